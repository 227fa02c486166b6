"""numba kernels of matrix factorisation: implicit ALS half-steps (CG, Cholesky) and BPR epochs.

Pure functions of arrays and scalars; outputs are written into arrays the caller allocated.
Every kernel's NumPy twin is in ``_mf.py``. Parallel kernels loop with ``prange`` over chunks of
rows whose bounds the caller balanced by work, so the result of a row never depends on the
number of threads (ALS is bit-identical for any thread count).

The parallel kernels are disk-cached (``cache=True`` with ``parallel=True``). That pair
segfaulted when a cache written under one thread count was loaded under another (numba#7518,
why pynndescent dropped the cache in its PR 175); numba 0.57 made the parfor schedule use the
run-time thread count (numba#7625) and the package requires numba >= 0.59. None of these
kernels has a prange reduction. tests/test_kernel_twins.py writes the cache under 2 threads
and loads it under 1 and 3. Uncached, the first ALS fit compiles for 15-25 s (2 busy cores);
cached, the first call takes about 1 s.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_EPS = 1e-20
_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)


@njit(cache=True, nogil=True, fastmath=True, inline="always")
def _dot(a, b, k):
    s = _ZERO
    for j in range(k):
        s += a[j] * b[j]
    return s


@njit(cache=True, nogil=True, fastmath=True)
def _cg_row(u, indptr, indices, conf, X, Y, A, cg_steps, r, p, ap):
    """A few warm-started CG steps on (A + Y^T (C_u - I) Y) x = Y^T C_u p_u for row u.

    The k x k matrix of the row is never formed: its product with a vector is one mat-vec with
    ``A = Y^T Y + reg I`` plus a dot and an axpy per item of the row. Negative confidences mean
    "disliked": weight |c|, preference 0 (implicit's convention).
    """
    k = X.shape[1]
    x = X[u]
    start, end = indptr[u], indptr[u + 1]
    if start == end:
        for j in range(k):
            x[j] = 0.0
        return
    for a in range(k):  # r = b - A_u x
        r[a] = -_dot(A[a], x, k)
    for idx in range(start, end):
        yi = Y[indices[idx]]
        c = conf[idx]
        t = c
        if c < 0:
            t = _ZERO
            c = -c
        t -= (c - _ONE) * _dot(yi, x, k)
        for j in range(k):
            r[j] += t * yi[j]
    rsold = _ZERO
    for j in range(k):
        p[j] = r[j]
        rsold += r[j] * r[j]
    if rsold < _EPS:
        return
    for _ in range(cg_steps):
        for a in range(k):
            ap[a] = _dot(A[a], p, k)
        for idx in range(start, end):
            yi = Y[indices[idx]]
            c = abs(conf[idx])
            t = (c - _ONE) * _dot(yi, p, k)
            for j in range(k):
                ap[j] += t * yi[j]
        alpha = rsold / _dot(p, ap, k)
        rsnew = _ZERO
        for j in range(k):
            x[j] += alpha * p[j]
            r[j] -= alpha * ap[j]
            rsnew += r[j] * r[j]
        if rsnew < _EPS:
            break
        beta = rsnew / rsold
        for j in range(k):
            p[j] = r[j] + beta * p[j]
        rsold = rsnew


@njit(cache=True, nogil=True, fastmath=True, parallel=True)
def als_cg_half(indptr, indices, conf, X, Y, A, cg_steps, bounds):
    """Update every row of X (users, or items with the transposed matrix) by CG, in place."""
    k = X.shape[1]
    for c in prange(bounds.size - 1):
        r = np.empty(k, dtype=np.float32)
        p = np.empty(k, dtype=np.float32)
        ap = np.empty(k, dtype=np.float32)
        for u in range(bounds[c], bounds[c + 1]):
            _cg_row(u, indptr, indices, conf, X, Y, A, cg_steps, r, p, ap)


@njit(cache=True, nogil=True, fastmath=True)
def _cholesky_row(u, indptr, indices, conf, X, Y, A, m, b):
    """Solve the row's normal equations exactly (float64 Cholesky)."""
    k = X.shape[1]
    start, end = indptr[u], indptr[u + 1]
    if start == end:
        for j in range(k):
            X[u, j] = 0.0
        return True
    for a in range(k):
        b[a] = 0.0
        for j in range(k):
            m[a, j] = A[a, j]
    for idx in range(start, end):
        yi = Y[indices[idx]]
        c = np.float64(conf[idx])
        if c > 0:
            for j in range(k):
                b[j] += c * yi[j]
        else:
            c = -c
        for a in range(k):
            t = (c - _ONE) * yi[a]
            for j in range(a + 1):
                m[a, j] += t * yi[j]
    for j in range(k):  # in-place Cholesky, lower triangle: m = L L^T
        s = m[j, j]
        for q in range(j):
            s -= m[j, q] * m[j, q]
        if s <= 0:
            return False
        d = np.sqrt(s)
        m[j, j] = d
        for a in range(j + 1, k):
            s = m[a, j]
            for q in range(j):
                s -= m[a, q] * m[j, q]
            m[a, j] = s / d
    for a in range(k):  # L z = b
        s = b[a]
        for q in range(a):
            s -= m[a, q] * b[q]
        b[a] = s / m[a, a]
    for a in range(k - 1, -1, -1):  # L^T x = z
        s = b[a]
        for q in range(a + 1, k):
            s -= m[q, a] * b[q]
        b[a] = s / m[a, a]
    for j in range(k):
        X[u, j] = b[j]
    return True


@njit(cache=True, nogil=True, fastmath=True, parallel=True)
def als_cholesky_half(indptr, indices, conf, X, Y, A, bounds, failed):
    """Exact per-row solves; ``failed[c]`` gets the first row (+1) whose matrix was not PD."""
    k = X.shape[1]
    for c in prange(bounds.size - 1):
        m = np.empty((k, k), dtype=np.float64)
        b = np.empty(k, dtype=np.float64)
        for u in range(bounds[c], bounds[c + 1]):
            if not _cholesky_row(u, indptr, indices, conf, X, Y, A, m, b):
                if failed[c] == 0:
                    failed[c] = u + 1


@njit(cache=True, nogil=True, fastmath=True, parallel=True)
def als_loss_terms(indptr, indices, conf, X, Y, YtY, bounds, out):
    """Per chunk: sum over rows of x^T (Y^T C_u Y) x - 2 x^T Y^T C_u p_u + sum c (the data
    term of the Hu et al. loss), and the total confidence; written to ``out[c, 0:2]``."""
    k = X.shape[1]
    for c in prange(bounds.size - 1):
        r = np.empty(k, dtype=np.float32)
        loss = 0.0
        total = 0.0
        for u in range(bounds[c], bounds[c + 1]):
            x = X[u]
            for a in range(k):
                r[a] = _dot(YtY[a], x, k)
            for idx in range(indptr[u], indptr[u + 1]):
                yi = Y[indices[idx]]
                cu = conf[idx]
                t = -2 * cu
                if cu < 0:  # disliked: preference 0, so no constant term
                    t = _ZERO
                    cu = -cu
                else:
                    loss += cu
                t += (cu - _ONE) * _dot(yi, x, k)
                for j in range(k):
                    r[j] += t * yi[j]
                total += cu
            loss += _dot(r, x, k)
        out[c, 0] = loss
        out[c, 1] = total


@njit(cache=True, nogil=True, inline="always")
def _next(state):
    """xorshift64* step: returns (new state, 32 random bits as uint64)."""
    state ^= state >> np.uint64(12)
    state ^= state << np.uint64(25)
    state ^= state >> np.uint64(27)
    return state, (state * np.uint64(2685821657736338717)) >> np.uint64(32)


@njit(cache=True, nogil=True, inline="always")
def _below(bits, n):
    """Map 32 random bits to [0, n) by multiply-shift (n < 2**32)."""
    return np.int64((bits * np.uint64(n)) >> np.uint64(32))


@njit(cache=True, nogil=True, inline="always")
def _contains(indices, start, end, value):
    """Binary search in the sorted slice ``indices[start:end]``."""
    lo, hi = start, end
    while lo < hi:
        mid = (lo + hi) >> 1
        v = indices[mid]
        if v == value:
            return True
        if v < value:
            lo = mid + 1
        else:
            hi = mid
    return False


@njit(cache=True, nogil=True, fastmath=True)
def _bpr_samples(userids, indices, indptr, X, Y, lr, reg, verify, uniform, state, n_samples,
                 stats, t):
    """``n_samples`` SGD steps; stats[t] = (correct, skipped). Returns the new RNG state."""
    nnz = indices.size
    n_items = Y.shape[0]
    k = X.shape[1] - 1  # last column: item bias (users hold 1 there)
    correct = 0
    skipped = 0
    for _ in range(n_samples):
        state, bits = _next(state)
        liked_index = _below(bits, nnz)
        state, bits = _next(state)
        if uniform:  # Rendle et al.: any item
            disliked_id = _below(bits, n_items)
        else:  # implicit: the item of a random interaction (by popularity)
            disliked_id = indices[_below(bits, nnz)]
        u = userids[liked_index]
        if verify and _contains(indices, indptr[u], indptr[u + 1], disliked_id):
            skipped += 1
            continue
        user = X[u]
        liked = Y[indices[liked_index]]
        disliked = Y[disliked_id]
        score = _ZERO
        for j in range(k + 1):
            score += user[j] * (liked[j] - disliked[j])
        z = _ONE / (_ONE + np.exp(score))
        if z < 0.5:
            correct += 1
        for j in range(k):
            tmp = user[j]
            user[j] += lr * (z * (liked[j] - disliked[j]) - reg * tmp)
            liked[j] += lr * (z * tmp - reg * liked[j])
            disliked[j] += lr * (-z * tmp - reg * disliked[j])
        liked[k] += lr * (z - reg * liked[k])
        disliked[k] += lr * (-z - reg * disliked[k])
    stats[t, 0] = correct
    stats[t, 1] = skipped
    return state


@njit(cache=True, nogil=True, fastmath=True)
def bpr_worker(userids, indices, indptr, X, Y, lr, reg, verify, uniform, states, stats, t):
    """Worker ``t`` of a BPR epoch: its share of the ``nnz`` samples, drawn from its own
    xorshift state ``states[t]`` (updated in place); ``stats[t]`` = (correct, skipped).

    The workers of an epoch run in Python threads (``_threads.run_hogwild``; this kernel
    releases the GIL) and update X and Y without locks (Hogwild); with one worker the epoch is
    deterministic for a seed.
    """
    n_workers = states.size
    total = indices.size
    n = total // n_workers + (1 if t < total % n_workers else 0)
    states[t] = _bpr_samples(userids, indices, indptr, X, Y, lr, reg, verify, uniform,
                             states[t], n, stats, t)
