"""Implicit ALS on a Ray cluster: users and items sharded across actors.

Actor ``k`` holds the rows of users ``U_k`` of the confidence matrix and the rows of items
``I_k`` of its transpose (in the object store, zero-copy), and solves its own rows with the same
numba kernels as :class:`~compactemb.train.ALS`. A half-iteration over users needs, on every
actor, the item factors its users touch and the item Gram matrix ``Y^T Y``; each actor returns,
after solving its items, its new item factors and its part ``Y_k^T Y_k`` of the Gram matrix,
and these go to the other actors through Ray's object store. Two ways to share them:

* ``broadcast``: every actor reads every shard of the other side (the whole table), so it holds
  ``n_other x dim`` floats. Simple, one object per shard and half-step.
* ``blocked`` (Spark ALS's scheme): actor ``j`` sends to actor ``k`` only the rows of its shard
  that ``k``'s rows touch (planned once from the sparsity pattern), so actor ``k`` holds
  ``|distinct other-side ids in its shard| x dim`` floats, never the whole table.

``partition="auto"`` takes ``broadcast`` while the other side's whole table fits in
``max_factor_bytes`` (default: a quarter of the smallest node's object store) and ``blocked``
otherwise. Every half-step is a pure function of the actor's shard and the refs it is given,
so a retried call (after Ray restarts a dead actor) recomputes exactly the same rows.
"""

from __future__ import annotations

import os
import time

import numpy as np
import scipy.sparse as sp

from .._progress import progress
from .._validation import Integer, Options
from ..exceptions import CompactEmbError, InputError
from ..train._base import epoch_callback
from ..train._mf import ALS, _confidence_matrices, _factor_model, _Threads, balanced_bounds
from ._cluster import ray_session
from ._shards import InteractionShards

# -- the plan (NumPy only: what each actor holds and sends) -------------------------------------


def shard_bounds(indptr: np.ndarray, dim: int, n_shards: int) -> np.ndarray:
    """Contiguous row ranges of about equal ALS work (``dim/2 + nnz`` per row).

    Returns int64 bounds of length ``n + 1`` with ``n <= n_shards`` (fewer when there are
    fewer rows than shards).
    """
    return balanced_bounds(indptr, dim / 2, n_shards)


def plan_shards(cui: sp.csr_matrix, ciu: sp.csr_matrix, n_shards: int, dim: int,
                blocked: bool) -> dict:
    """Split both sides into ``n_shards`` and, when ``blocked``, plan what each actor sends.

    Returns a dict with ``bounds`` (per side), ``shards`` (per actor: per side ``indptr``,
    ``indices``, ``data``, and when blocked ``send`` = per destination the local rows to send)
    and ``need_rows`` (per side and actor: how many other-side rows the actor reads).
    """
    n = min(n_shards, cui.shape[0], ciu.shape[0])
    bounds = [shard_bounds(cui.indptr, dim, n), shard_bounds(ciu.indptr, dim, n)]
    n = min(bounds[0].size, bounds[1].size) - 1
    bounds = [shard_bounds(cui.indptr, dim, n), shard_bounds(ciu.indptr, dim, n)]
    shards: list[dict] = [{} for _ in range(n)]
    need_rows = [[0] * n, [0] * n]
    for side, mat in enumerate((cui, ciu)):
        other_bounds = bounds[1 - side]
        for k in range(n):
            lo, hi = bounds[side][k], bounds[side][k + 1]
            s, e = mat.indptr[lo], mat.indptr[hi]
            indptr = (mat.indptr[lo:hi + 1] - s).astype(np.int64)
            indices = mat.indices[s:e].astype(np.int32)
            data = mat.data[s:e].astype(np.float32)
            if blocked:
                need = np.unique(indices)
                indices = np.searchsorted(need, indices).astype(np.int32)
                cuts = np.searchsorted(need, other_bounds)
                for j in range(n):  # owner j of the other side sends need[cuts[j]:cuts[j+1]]
                    send = shards[j].setdefault(f"send{1 - side}", [None] * n)
                    send[k] = (need[cuts[j]:cuts[j + 1]] - other_bounds[j]).astype(np.int64)
                need_rows[side][k] = int(need.size)
            else:
                need_rows[side][k] = int(mat.shape[1])
            shards[k][f"indptr{side}"] = indptr
            shards[k][f"indices{side}"] = indices
            shards[k][f"data{side}"] = data
    return {"bounds": bounds, "shards": shards, "need_rows": need_rows, "n_shards": n}


# -- the actor ----------------------------------------------------------------------------------


class ShardSolver:
    """One shard of users and one of items; solves its rows given the other side's factors.

    Used as a Ray actor (``ray.remote(ShardSolver)``); plain methods, so it also runs in-process.
    """

    def __init__(self, shard: dict, index: int, dim: int, regularization: float, solver: str,
                 cg_steps: int, n_threads: int, blocked: bool):
        self.shard = shard
        self.index = index
        self.dim = dim
        self.reg = float(regularization)
        self.solver = solver
        self.cg_steps = cg_steps
        self.n_threads = n_threads
        self.blocked = blocked
        self.bytes_received = 0
        self.calls = 0
        self._warm_up()  # load the kernels now, so that the heap measured next is the baseline
        self.idle_heap = self.peak_heap = _anonymous_rss()

    def _warm_up(self) -> None:
        from ..train import _mf_kernels
        from ..train._mf import _als_half

        k = self.dim
        indptr, indices = np.array([0, 1], np.int64), np.zeros(1, np.int32)
        data, bounds = np.ones(1, np.float32), np.array([0, 1], np.int64)
        x, y = np.zeros((1, k), np.float32), np.ones((1, k), np.float32)
        gram = np.eye(k, dtype=np.float32)
        with _Threads(self.n_threads):
            _als_half(_mf_kernels, self.solver, self.cg_steps, indptr, indices, data, x, y,
                      gram, bounds)

    def pid(self) -> int:
        return os.getpid()

    def cut(self, side: int, factors):
        """The rows of ``factors`` (this shard's, on ``side``) each destination needs."""
        out = tuple(factors[rows] for rows in self.shard[f"send{side}"])
        return out if len(out) > 1 else out[0]  # one return value is not a tuple in Ray

    def solve(self, side: int, n_shards: int, own, *parts):
        """New factors of this shard's rows on ``side`` (0 users, 1 items).

        ``parts`` are the other side's Gram parts (``n_shards`` of them) then its factor pieces
        (``n_shards``: whole shards when broadcasting, the rows this shard needs when blocked).
        Returns (factors, Gram part, then when blocked one piece per destination).
        """
        from ..train import _mf_kernels
        from ..train._mf import _als_half

        grams, pieces = parts[:n_shards], parts[n_shards:]
        self.calls += 1
        self.bytes_received += sum(p.nbytes for j, p in enumerate(pieces) if j != self.index)
        self.bytes_received += sum(g.nbytes for j, g in enumerate(grams) if j != self.index)
        gram = np.zeros((self.dim, self.dim), dtype=np.float64)
        for g in grams:  # a fixed order: the sum does not depend on arrival
            gram += g
        gram32 = (gram + self.reg * np.eye(self.dim)).astype(np.float32)
        other = np.ascontiguousarray(np.concatenate(pieces) if len(pieces) > 1 else pieces[0],
                                     dtype=np.float32)
        factors = np.array(own, dtype=np.float32, copy=True)
        indptr = self.shard[f"indptr{side}"]
        indices = self.shard[f"indices{side}"]
        data = self.shard[f"data{side}"]
        with _Threads(self.n_threads) as threads:
            chunks = balanced_bounds(indptr, self.dim / 2, 8 * threads)
            failed = _als_half(_mf_kernels, self.solver, self.cg_steps, indptr, indices, data,
                               factors, other, gram32, chunks)
            if failed is not None and failed.any():
                raise InputError(
                    f"ALS: the system of a row of shard {self.index} is not positive "
                    "definite; increase the regularization")
        f64 = factors.astype(np.float64)
        out = [factors, f64.T @ f64]
        if self.blocked:
            out.extend(factors[rows] for rows in self.shard[f"send{side}"])
        self.peak_heap = max(self.peak_heap, _anonymous_rss())  # all the copies are alive here
        return tuple(out)

    def stats(self) -> dict:
        import resource

        import ray

        return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id(),
                "max_rss_bytes": resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss * 1024, "idle_heap_bytes": self.idle_heap,
            "peak_heap_bytes": self.peak_heap, "bytes_received": self.bytes_received,
            "calls": self.calls}


# -- the estimator ------------------------------------------------------------------------------


class RayALS(ALS):
    """Implicit ALS on a Ray cluster; the distributed twin of :class:`~compactemb.train.ALS`.

    Takes every parameter of ALS (same meaning, same initial factors for a ``random_state``, so
    the result equals single-process ALS within float tolerance) and returns the same
    ``FactorModel`` in ``model_``. This is the documented equivalent of
    ``ALS(..., backend="ray")``.

    Parameters
    ----------
    dim, regularization, alpha, weighting, epochs, solver, cg_steps, random_state
        As :class:`~compactemb.train.ALS`.
    n_threads : int or None, default None
        numba threads inside each actor (None: ``cpus_per_worker``).
    address : str or None, default None
        Ray cluster: ``"HOST:PORT"``, ``"auto"``, or None to start a local one.
    n_workers : int, default 2
        Actors (shards); each holds ``1/n_workers`` of the users and of the items.
    cpus_per_worker : int, default 1
        CPUs Ray reserves per actor.
    partition : {"auto", "broadcast", "blocked"}, default "auto"
        How the other side's factors reach each actor (see the module docstring).
    max_factor_bytes : int or None, default None
        With ``partition="auto"``: the largest other-side table an actor may hold whole before
        the blocked scheme is used (None: a quarter of the smallest node's object store).
    max_restarts : int, default 3
        Ray restarts of a dead actor (and retries of its call) before the job fails.

    Attributes
    ----------
    model_ : FactorModel
    user_factors_, item_factors_ : ndarray of float32
    iteration_seconds_ : list of float
    read_seconds_ : dict
        Fitted on :class:`InteractionShards` only: seconds to ``read`` the files as a Dataset,
        to ``index`` the IDs, and to build the actors' ``shards``.
    partition_ : str
        The scheme used.
    plan_ : dict
        ``n_shards``, ``need_rows`` (other-side rows each actor reads, per side) and the
        planned ``bytes_sent_per_iteration`` between actors.
    worker_stats_ : list of dict
        Per actor: ``pid``, ``node_id``, ``max_rss_bytes`` (peak RSS, object store pages it
        touched included), ``idle_heap_bytes`` and ``peak_heap_bytes`` (private memory after
        start and at its peak, Linux), ``bytes_received`` (factor and Gram bytes it read from
        other actors' objects) and ``calls`` (since its last start).
    worker_pids_ : list of int
        Process ids of the actors (set before the first iteration).

    Raises
    ------
    ClusterError
        The cluster cannot be reached.

    Examples
    --------
    >>> from compactemb.distributed import RayALS                 # doctest: +SKIP
    >>> model = RayALS(dim=64, address="auto", n_workers=4).fit(interactions).model_  # +SKIP
    """

    _param_spec = {**ALS._param_spec, "n_workers": Integer(low=1),
                   "cpus_per_worker": Integer(low=1),
                   "partition": Options(("auto", "broadcast", "blocked")),
                   "max_restarts": Integer(low=0)}

    def __init__(self, dim: int = 64, *, regularization: float = 0.01, alpha: float = 1.0,
                 weighting: str = "linear", epochs: int = 15, solver: str = "cg",
                 cg_steps: int = 3, compute_loss: bool = False, n_threads: int | None = None,
                 random_state: int = 0, address: str | None = None, n_workers: int = 2,
                 cpus_per_worker: int = 1, partition: str = "auto",
                 max_factor_bytes: int | None = None, max_restarts: int = 3):
        super().__init__(dim, regularization=regularization, alpha=alpha, weighting=weighting,
                         epochs=epochs, solver=solver, cg_steps=cg_steps,
                         compute_loss=compute_loss, n_threads=n_threads,
                         random_state=random_state)
        self.address = address
        self.n_workers = n_workers
        self.cpus_per_worker = cpus_per_worker
        self.partition = partition
        self.max_factor_bytes = max_factor_bytes
        self.max_restarts = max_restarts

    def _validate(self) -> None:
        super()._validate()
        if self.compute_loss:
            raise InputError("RayALS: compute_loss is not available on Ray (the loss needs "
                             "both whole tables on one node)")
        if self.max_factor_bytes is not None and (
                not isinstance(self.max_factor_bytes, (int, np.integer))
                or isinstance(self.max_factor_bytes, bool) or self.max_factor_bytes < 1):
            raise InputError(f"The 'max_factor_bytes' parameter of RayALS must be an integer "
                             f">= 1 or None. Got {self.max_factor_bytes!r} instead.")

    def _choose_partition(self, ray, n_users: int, n_items: int) -> str:
        if self.partition != "auto":
            return self.partition
        limit = self.max_factor_bytes
        if limit is None:
            stores = [n["Resources"].get("object_store_memory", 0) for n in ray.nodes()
                      if n.get("Alive")]
            limit = int(min(stores) // 4) if stores else 1 << 30
        whole = max(n_users, n_items) * self.dim * 4
        return "broadcast" if whole <= limit else "blocked"

    def fit(self, interactions, *, callback=None) -> RayALS:
        """Factorise ``interactions`` on the cluster.

        Parameters
        ----------
        interactions : Interactions, scipy.sparse matrix, 2-D array or InteractionShards
            :class:`InteractionShards` (Parquet/CSV shard files) are read as a Ray Dataset on
            the cluster and indexed there; every actor builds its shard from the blocks (the
            driver receives only the distinct IDs and, at the end, the model).
        callback : callable, optional
            ``callback(epoch, info)`` after each iteration (``info``: ``seconds``, ``loss`` =
            None); returning False stops training.

        Returns
        -------
        RayALS
            ``self``, with ``model_``.

        Raises
        ------
        InputError
            Bad parameters or data, a singular Cholesky solve, diverged factors.
        ClusterError
            The cluster cannot be reached.
        """
        self._validate()
        notify = epoch_callback(callback, "RayALS")
        t0 = time.perf_counter()
        if isinstance(interactions, InteractionShards):
            return self._fit_shards(interactions, notify, t0)
        m, inter, cui, ciu = _confidence_matrices(interactions, self.weighting, self.alpha,
                                                   "RayALS")
        rng = np.random.default_rng(self.random_state)  # the same draws as ALS
        n_users, n_items = m.shape
        X = rng.random((n_users, self.dim), dtype=np.float32) * np.float32(0.01)
        Y = rng.random((n_items, self.dim), dtype=np.float32) * np.float32(0.01)
        with ray_session(self.address) as ray:
            self.partition_ = self._choose_partition(ray, n_users, n_items)
            plan = plan_shards(cui, ciu, self.n_workers, self.dim,
                               self.partition_ == "blocked")
            shards = plan.pop("shards")
            n = plan["n_shards"]
            self_need = [0, 0]
            if self.partition_ == "blocked":  # rows an actor sends itself, per side
                self_need = [sum(shards[k][f"send{s}"][k].size for k in range(n))
                             for s in (0, 1)]
            shard_refs = [ray.put(s) for s in shards]
            del shards
            X, Y = self._run(ray, shard_refs, plan["bounds"], plan["need_rows"], self_need,
                             (n_users, n_items), X, Y, notify)
        self._finish(inter, m, X, Y, t0)
        return self

    def _finish(self, inter, m, X, Y, t0, **extra) -> None:
        if not (np.isfinite(X).all() and np.isfinite(Y).all()):
            raise InputError("ALS diverged (NaN or inf factors); increase the regularization "
                             "or lower alpha")
        self.user_factors_, self.item_factors_ = X, Y
        meta = {**extra, "trainer": "als", "backend": "ray", "params": self._meta_params("als"),
                "n_interactions": int(m.nnz), "partition": self.partition_,
                "n_shards": self.plan_["n_shards"],
                "timings_s": {"total": round(time.perf_counter() - t0, 3),
                              "per_iteration": [round(s, 4) for s in self.iteration_seconds_]}}
        self.model_ = _factor_model(inter, m, X, Y, meta)

    def _fit_shards(self, shards: InteractionShards, notify, t0) -> RayALS:
        """Fit on shard files read as a Ray Dataset: the log never reaches the driver."""
        from types import SimpleNamespace

        from ._shards import block_ids, build_shard, merge_ids, route_block, with_sends

        with ray_session(self.address) as ray:
            t = time.perf_counter()
            blocks = shards.block_refs(ray)
            self.read_seconds_ = {"read": time.perf_counter() - t}
            ids = ray.remote(block_ids).options(max_retries=3)
            user_vocab, item_vocab = merge_ids(_get(ray, [ids.remote(ref, shards, b)
                                                          for b, ref in enumerate(blocks)]))
            self.read_seconds_["index"] = time.perf_counter() - t - self.read_seconds_["read"]
            n_users, n_items = len(user_vocab), len(item_vocab)
            rng = np.random.default_rng(self.random_state)  # the same draws as ALS
            X = rng.random((n_users, self.dim), dtype=np.float32) * np.float32(0.01)
            Y = rng.random((n_items, self.dim), dtype=np.float32) * np.float32(0.01)
            self.partition_ = self._choose_partition(ray, n_users, n_items)
            blocked = self.partition_ == "blocked"
            # work per row from the ID counts (repeated pairs not yet summed: close enough)
            rows = [np.concatenate([[0], np.cumsum(v.counts, dtype=np.int64)])
                    for v in (user_vocab, item_vocab)]
            n = min(self.n_workers, n_users, n_items)
            bounds = [shard_bounds(r, self.dim, n) for r in rows]
            n = min(b.size for b in bounds) - 1
            bounds = [shard_bounds(r, self.dim, n) for r in rows]
            route = ray.remote(route_block).options(num_returns=2 * n, max_retries=3)
            vocab_refs = ray.put(user_vocab), ray.put(item_vocab)
            routed = [route.remote(ref, shards, b, *vocab_refs, bounds[0], bounds[1])
                      for b, ref in enumerate(blocks)]
            build = ray.remote(build_shard).options(
                num_returns=3 + (2 * n if blocked else 0), max_retries=3)
            built = [build.remote(k, n, bounds, (n_items, n_users), self.weighting, self.alpha,
                                  blocked, *[r[k] for r in routed], *[r[n + k] for r in routed])
                     for k in range(n)]
            infos = _get(ray, [b[2] for b in built])
            del blocks, routed  # the log's blocks and pieces leave the object store
            self.read_seconds_["shards"] = time.perf_counter() - t - sum(
                self.read_seconds_.values())
            self_need = [sum(info["self_need"][s] for info in infos) for s in (0, 1)]
            need_rows = [[info["need_rows"][s] for info in infos] for s in (0, 1)]
            if blocked:  # owner j sends destination k the rows k's build task listed
                assemble = ray.remote(with_sends).options(max_retries=3)
                shard_refs = [assemble.remote(built[j][0], n,
                                              *[built[k][3 + n + j] for k in range(n)],
                                              *[built[k][3 + j] for k in range(n)])
                              for j in range(n)]
            else:
                shard_refs = [b[0] for b in built]
            X, Y = self._run(ray, shard_refs, bounds, need_rows, self_need,
                             (n_users, n_items), X, Y, notify)
            seen = _get(ray, [b[1] for b in built])
        indptr = np.zeros(n_users + 1, np.int64)
        ends = np.cumsum([s[0][-1] for s in seen])
        for k, s in enumerate(seen):
            indptr[bounds[0][k] + 1:bounds[0][k + 1] + 1] = s[0][1:] + (ends[k - 1] if k else 0)
        m = sp.csr_matrix((np.concatenate([s[2] for s in seen]),
                           np.concatenate([s[1] for s in seen]), indptr),
                          shape=(n_users, n_items))
        self._finish(SimpleNamespace(user_vocab=user_vocab, item_vocab=item_vocab), m, X, Y,
                     t0, source="shards")
        return self

    def _run(self, ray, shard_refs, bounds, need_rows, self_need, shape, X, Y, notify):
        """Train from the shards in the object store (one per actor); returns (X, Y)."""
        blocked = self.partition_ == "blocked"
        n = len(shard_refs)
        row_bytes = self.dim * 4
        if not blocked:  # every actor reads the other n-1 shards: (n-1) whole tables per side
            sent = (n - 1) * (shape[0] + shape[1]) * row_bytes
        else:  # the rows each actor reads, minus what it reads from itself
            sent = (sum(sum(rows) for rows in need_rows) - sum(self_need)) * row_bytes
        sent += 2 * n * (n - 1) * self.dim * self.dim * 8  # Gram parts
        self.plan_ = {"n_shards": n, "need_rows": need_rows,
                      "bytes_sent_per_iteration": int(sent)}
        threads = self.n_threads or self.cpus_per_worker
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if n * self.cpus_per_worker > cpus:  # the extra actors would wait for CPUs forever
            raise InputError(f"RayALS: {n} workers x {self.cpus_per_worker} CPUs need "
                             f"{n * self.cpus_per_worker} CPUs; the cluster has {cpus}")
        remote = ray.remote(ShardSolver).options(
            num_cpus=self.cpus_per_worker, max_restarts=self.max_restarts,
            max_task_retries=self.max_restarts, scheduling_strategy="SPREAD")
        actors = [remote.remote(shard_refs[k], k, self.dim, self.regularization, self.solver,
                                self.cg_steps, threads, blocked) for k in range(n)]
        try:
            self.worker_pids_ = _get(ray, [a.pid.remote() for a in actors])
            tables = (X, Y)
            own = [[ray.put(tables[s][bounds[s][k]:bounds[s][k + 1]]) for k in range(n)]
                   for s in (0, 1)]
            # per side: refs of each owner's Gram matrix (the users' come after the first pass)
            grams: list = [None, [ray.put(_gram(Y[bounds[1][j]:bounds[1][j + 1]]))
                                  for j in range(n)]]
            pieces = None  # per destination, per owner (blocked); the first cut by the owners
            if blocked:
                cut = [actor.cut.options(num_returns=n).remote(1, own[1][j])
                       for j, actor in enumerate(actors)]
                cut = [c if n > 1 else [c] for c in cut]
                pieces = [[cut[j][k] for j in range(n)] for k in range(n)]
            # shard_refs stay alive: a restarted actor is rebuilt from them
            self.iteration_seconds_ = []
            bar = progress(total=self.epochs, desc=f"als on ray ({n} workers)", unit="iter")
            try:
                for epoch in range(self.epochs):
                    ts = time.perf_counter()
                    for side in (0, 1):
                        other = 1 - side
                        results = []
                        for k, actor in enumerate(actors):
                            given = pieces[k] if pieces is not None else own[other]
                            results.append(actor.solve.options(
                                num_returns=2 + (n if blocked else 0)).remote(
                                side, n, own[side][k], *grams[other], *given))
                        own[side] = [r[0] for r in results]
                        grams[side] = [r[1] for r in results]
                        if blocked:
                            pieces = [[results[j][2 + k] for j in range(n)] for k in range(n)]
                        _get(ray, grams[side])  # wait for the half-step; raises its errors
                    seconds = time.perf_counter() - ts
                    self.iteration_seconds_.append(seconds)
                    bar.update(1)
                    if notify(epoch, {"seconds": seconds, "loss": None}):
                        break
            finally:
                bar.close()
            X = np.concatenate(_get(ray, own[0]))
            Y = np.concatenate(_get(ray, own[1]))
            self.worker_stats_ = _get(ray, [a.stats.remote() for a in actors])
        finally:
            for actor in actors:
                ray.kill(actor)
        return X, Y


def _anonymous_rss() -> int:
    """Private resident memory of this process (Linux ``RssAnon``; 0 elsewhere).

    That is the heap, without the object store's shared pages that RSS also counts.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _gram(a: np.ndarray) -> np.ndarray:
    a64 = a.astype(np.float64)
    return a64.T @ a64


def _get(ray, refs):
    """``ray.get`` that re-raises a compactemb error of a worker as itself."""
    try:
        return ray.get(refs)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, CompactEmbError):
            raise cause from None
        raise
