"""NumPy twins of ``_mf_kernels.py`` (same names, same signatures); see ``compactemb._native``.

ALS twins solve in float64 (the kernels in float32, so they agree to float32 rounding); the BPR
twin is one worker, as the kernel.
"""

from __future__ import annotations

import numpy as np

from ._mf import xorshift_next


def _row(indptr, indices, conf, Y64, u):
    s, e = indptr[u], indptr[u + 1]
    return conf[s:e].astype(np.float64), Y64[indices[s:e]]


def als_cg_half(indptr, indices, conf, X, Y, A, cg_steps, bounds):
    """``cg_steps`` warm-started CG steps on each row's normal equations, in place."""
    Y64, base = Y.astype(np.float64), A.astype(np.float64)
    for u in range(bounds[0], bounds[-1]):
        c, yu = _row(indptr, indices, conf, Y64, u)
        if c.size == 0:
            X[u] = 0
            continue

        def matvec(v, yu=yu, c=c):
            return base @ v + yu.T @ ((np.abs(c) - 1) * (yu @ v))

        x = X[u].astype(np.float64)
        r = yu.T @ np.where(c > 0, c, 0.0) - matvec(x)
        p = r.copy()
        rsold = r @ r
        if rsold >= 1e-20:
            for _ in range(cg_steps):
                ap = matvec(p)
                alpha = rsold / (p @ ap)
                x += alpha * p
                r -= alpha * ap
                rsnew = r @ r
                if rsnew < 1e-20:
                    break
                p = r + rsnew / rsold * p
                rsold = rsnew
        X[u] = x


def als_cholesky_half(indptr, indices, conf, X, Y, A, bounds, failed):
    """Exact per-row solves; ``failed[c]`` gets the first row (+1) whose matrix was not PD."""
    Y64, base = Y.astype(np.float64), A.astype(np.float64)
    for chunk in range(bounds.size - 1):
        for u in range(bounds[chunk], bounds[chunk + 1]):
            c, yu = _row(indptr, indices, conf, Y64, u)
            if c.size == 0:
                X[u] = 0
                continue
            a = base + yu.T @ ((np.abs(c) - 1)[:, None] * yu)
            try:
                low = np.linalg.cholesky(a)
            except np.linalg.LinAlgError:
                if failed[chunk] == 0:
                    failed[chunk] = u + 1
                continue
            z = np.linalg.solve(low, yu.T @ np.where(c > 0, c, 0.0))
            X[u] = np.linalg.solve(low.T, z)


def als_loss_terms(indptr, indices, conf, X, Y, YtY, bounds, out):
    """Per chunk: the data term of the Hu et al. loss and the total confidence, in out[c]."""
    Y64, gram = Y.astype(np.float64), YtY.astype(np.float64)
    for chunk in range(bounds.size - 1):
        loss = total = 0.0
        for u in range(bounds[chunk], bounds[chunk + 1]):
            x = X[u].astype(np.float64)
            c, yu = _row(indptr, indices, conf, Y64, u)
            pred = yu @ x
            liked = np.where(c > 0, c, 0.0)
            loss += x @ gram @ x + ((np.abs(c) - 1) * pred * pred).sum() \
                - 2 * (liked * pred).sum() + liked.sum()
            total += np.abs(c).sum()
        out[chunk, 0] = loss
        out[chunk, 1] = total


def _bpr_samples(userids, indices, indptr, X, Y, lr, reg, verify, uniform, state, n_samples):
    nnz = indices.size
    k = X.shape[1] - 1
    correct = skipped = 0
    lr, reg = np.float32(lr), np.float32(reg)
    for _ in range(n_samples):
        state, bits = xorshift_next(state)
        liked_index = (bits * nnz) >> 32
        state, bits = xorshift_next(state)
        disliked = (bits * Y.shape[0]) >> 32 if uniform else int(indices[(bits * nnz) >> 32])
        u = int(userids[liked_index])
        liked = int(indices[liked_index])
        if verify and disliked in indices[indptr[u]:indptr[u + 1]]:
            skipped += 1
            continue
        x, yl, yd = X[u], Y[liked], Y[disliked]
        score = np.float32(x @ (yl - yd))
        z = np.float32(1) / (np.float32(1) + np.exp(score))
        correct += int(z < 0.5)
        xu = x[:k].copy()
        diff = yl[:k] - yd[:k]
        x[:k] += lr * (z * diff - reg * xu)
        yl[:k] += lr * (z * xu - reg * yl[:k])
        yd[:k] += lr * (-z * xu - reg * yd[:k])
        yl[k] += lr * (z - reg * yl[k])
        yd[k] += lr * (-z - reg * yd[k])
    return state, correct, skipped


def bpr_worker(userids, indices, indptr, X, Y, lr, reg, verify, uniform, states, stats, t):
    """Worker ``t`` of a BPR epoch: its share of the ``nnz`` samples from ``states[t]``."""
    n_workers, total = states.size, indices.size
    n = total // n_workers + (1 if t < total % n_workers else 0)
    state, correct, skipped = _bpr_samples(userids, indices, indptr, X, Y, lr, reg, verify,
                                           uniform, int(states[t]), n)
    states[t] = state
    stats[t] = correct, skipped
