"""numba kernel of the blocked top-k (``search.blocked_top_k``): a running best ``k`` per query,
merged block by block in parallel over queries. Imported lazily."""

from __future__ import annotations

from numba import njit, prange


@njit(cache=True, nogil=True, inline="always")
def _before(s1, i1, s2, i2):
    """True when (score s1, row i1) ranks before (s2, i2): higher score, then lower row;
    empty slots (row -1) last."""
    if i2 < 0:
        return i1 >= 0
    if i1 < 0:
        return False
    return s1 > s2 or (s1 == s2 and i1 < i2)


@njit(cache=True, nogil=True, parallel=True)
def merge_top_k(scores, offset, best_s, best_i):
    """Merge ``scores`` (n, b) of table rows ``offset ... offset + b - 1`` into the running
    best ``best_s``/``best_i`` (n, k) in place, each row sorted best first (ties: lower row
    first; empty slots score -inf, row -1). A -inf or NaN score never enters."""
    n, b = scores.shape
    k = best_s.shape[1]
    if k == 0:
        return
    for r in prange(n):
        worst_s = best_s[r, k - 1]  # the row is sorted: its last slot goes first
        for c in range(b):
            s = scores[r, c]
            # one comparison: an empty last slot scores -inf (so -inf and NaN never enter);
            # on a tie with a full row's last slot, the earlier row already in stays
            if not s > worst_s:
                continue
            row = offset + c
            j = k - 1
            while j > 0 and _before(s, row, best_s[r, j - 1], best_i[r, j - 1]):
                best_s[r, j] = best_s[r, j - 1]
                best_i[r, j] = best_i[r, j - 1]
                j -= 1
            best_s[r, j] = s
            best_i[r, j] = row
            worst_s = best_s[r, k - 1]
