"""Distributed ALS on Ray against single-process ALS, and the bytes model of docs/SCALE.md.

    nice python bench/scale_ray/run.py [--interactions 3000000] [--dim 64] [--epochs 5]

A synthetic implicit-feedback log (users with a taste group, items by popularity inside groups)
with one held-out interaction for 5,000 sampled users. Trained by single-process ALS (2
threads) and by RayALS on a two-node loopback LocalCluster (2 logical CPUs per node): 1 worker
x 2 threads, 2 workers x 1 thread (one per node) broadcasting, and 2 workers with the blocked
scheme. Reported per run: seconds per iteration (median), fit seconds, ndcg@10 on the held-out
items, each worker's peak private memory (heap, RssAnon) above its own at start, the bytes
each worker read from other workers per iteration, and the model of docs/SCALE.md for both
(ratio measured/model).
Writes bench/results/ray.json and bench/results/ray.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def synthetic_log(n_inter: int, n_users: int, n_items: int, seed: int = 0) -> sp.csr_matrix:
    """Users x items counts: 80% of a user's interactions in its taste group, Zipf inside."""
    rng = np.random.default_rng(seed)
    n_groups = 50
    user_group = rng.integers(0, n_groups, n_users)
    item_group = rng.integers(0, n_groups, n_items)
    order = np.argsort(item_group, kind="stable")
    starts = np.searchsorted(item_group[order], np.arange(n_groups + 1))
    activity = rng.lognormal(0.0, 1.0, n_users)
    users = rng.choice(n_users, n_inter, p=activity / activity.sum())
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    items = rng.choice(n_items, n_inter, p=pop / pop.sum())  # global popularity
    inside = rng.random(n_inter) < 0.8
    g = user_group[users[inside]]
    size = starts[g + 1] - starts[g]
    rank = np.minimum((rng.pareto(1.2, g.size) * size / 20).astype(np.int64), size - 1)
    items[inside] = order[starts[g] + rank]
    m = sp.coo_matrix((np.ones(n_inter, np.float32), (users, items)),
                      shape=(n_users, n_items)).tocsr()
    m.sum_duplicates()
    return m


def hold_out(m: sp.csr_matrix, n_test: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    counts = np.diff(m.indptr)
    eligible = np.flatnonzero(counts >= 3)
    users = rng.choice(eligible, min(n_test, eligible.size), replace=False)
    pos = m.indptr[users] + rng.integers(0, counts[users])
    test_items = m.indices[pos].copy()
    train = m.copy()
    train.data[pos] = 0
    train.eliminate_zeros()
    return train, users, test_items


def ndcg_at_10(model, users, test_items) -> float:
    top = model.recommend_rows(users, k=10).ids
    hit = top == test_items[:, None]
    rank = np.argmax(hit, axis=1)
    return float(np.where(hit.any(1), 1 / np.log2(rank + 2), 0).mean())


def model_bytes(n_users, n_items, nnz, dim, k, partition, need_rows) -> dict:
    """docs/SCALE.md: a worker's private memory at its peak, its share of the object store,
    and what the workers read from each other per iteration."""
    row = dim * 4
    own = (n_users / k, n_items / k)  # rows a worker solves, per side
    heap = []
    for side in (0, 1):
        other = (n_items, n_users)[side] if partition == "broadcast" else max(need_rows[side])
        # working copy (4d) + float64 copy for the Gram part (8d) + the other side concatenated
        h = 3 * own[side] * row + other * row
        if partition == "blocked":  # + the pieces it cuts for the next half's workers
            h += sum(need_rows[1 - side]) / k * row
        heap.append(h)
    store = (2 * nnz * 8 + (n_users + n_items) * 8) / k + 2 * (n_users + n_items) / k * row
    if partition == "broadcast":
        sent = (k - 1) * (n_users + n_items) * row
    else:
        sent = sum(sum(r) for r in need_rows) * row * (k - 1) / k
    sent += 2 * k * (k - 1) * dim * dim * 8
    return {"worker_heap_bytes": int(max(heap)), "worker_store_bytes": int(store),
            "sent_per_iteration": int(sent)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interactions", type=int, default=3_000_000)
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--name", default="ray")
    args = ap.parse_args()

    from compactemb.distributed import LocalCluster, RayALS
    from compactemb.distributed._cluster import LOOPBACK, pin_loopback
    from compactemb.train import ALS

    t0 = time.perf_counter()
    m = synthetic_log(args.interactions, args.users, args.items)
    train, test_users, test_items = hold_out(m, 5000)
    n_users, n_items = train.shape
    print(f"log: {m.nnz:,} distinct pairs ({args.interactions:,} draws), {n_users:,} users, "
          f"{n_items:,} items; built in {time.perf_counter() - t0:.1f}s", flush=True)
    common = dict(dim=args.dim, epochs=args.epochs, regularization=0.05, random_state=0)
    ALS(dim=8, epochs=1).fit(train[:1000])  # load the kernels (numba cache) before timing
    runs = []

    def record(name, est, seconds, workers=None, partition=None, cpus=None):
        its = est.iteration_seconds_
        r = {"run": name, "fit_s": round(seconds, 2),
             "s_per_iteration": round(statistics.median(its[1:] or its), 3),
             "ndcg@10": round(ndcg_at_10(est.model_, test_users, test_items), 5)}
        if workers:
            r.update(workers=workers, cpus_per_worker=cpus, partition=est.partition_)
            stats = est.worker_stats_
            r["worker_rss_above_idle_bytes"] = [s["max_rss_bytes"] - idle for s in stats]
            r["worker_heap_bytes"] = [s["peak_heap_bytes"] - s["idle_heap_bytes"]
                                      for s in stats]
            r["read_per_iteration_bytes"] = int(sum(s["bytes_received"] for s in stats)
                                                / args.epochs)
            r["planned_sent_per_iteration_bytes"] = est.plan_["bytes_sent_per_iteration"]
            mod = model_bytes(n_users, n_items, train.nnz, args.dim, workers, est.partition_,
                              est.plan_["need_rows"])
            r["model"] = mod
            r["heap_vs_model"] = round(max(r["worker_heap_bytes"])
                                       / mod["worker_heap_bytes"], 3)
            r["sent_vs_model"] = round(r["read_per_iteration_bytes"]
                                       / mod["sent_per_iteration"], 3) \
                if mod["sent_per_iteration"] else None
        runs.append(r)
        print(json.dumps(r), flush=True)

    t = time.perf_counter()
    single = ALS(n_threads=2, **common).fit(train)
    record("single process, 2 threads", single, time.perf_counter() - t)
    t = time.perf_counter()
    record("single process, 1 thread", ALS(n_threads=1, **common).fit(train),
           time.perf_counter() - t)

    import ray

    cluster = LocalCluster(n_nodes=2, cpus_per_node=2, object_store_memory=1_500_000_000)
    try:
        with cluster.driver_env():
            pin_loopback()
            ray.init(address=cluster.address, _node_ip_address=LOOPBACK,
                     logging_level="error", log_to_driver=False)
            idle_est = RayALS(dim=8, epochs=1, address=cluster.address, n_workers=2)
            idle_est.fit(train[:2000])
            idle = max(s["max_rss_bytes"] for s in idle_est.worker_stats_)
            for name, workers, cpus, part in (
                    ("ray 1 worker x 2 threads", 1, 2, "broadcast"),
                    ("ray 2 workers x 1 thread", 2, 1, "broadcast"),
                    ("ray 2 workers x 1 thread, blocked", 2, 1, "blocked")):
                t = time.perf_counter()
                est = RayALS(address=cluster.address, n_workers=workers, cpus_per_worker=cpus,
                             partition=part, **common).fit(train)
                record(name, est, time.perf_counter() - t, workers, part, cpus)
                diff = float(np.abs(est.item_factors_ - single.item_factors_).max())
                runs[-1]["max_abs_diff_item_factors_vs_single"] = diff
    except BaseException:
        import traceback

        traceback.print_exc()  # before stop(): Ray's driver exits once its cluster is gone
        raise
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.stop()

    base = runs[0]
    for r in runs[1:]:
        r["time_vs_single"] = round(r["s_per_iteration"] / base["s_per_iteration"], 3)
        r["ndcg_rel_diff_vs_single"] = round(abs(r["ndcg@10"] - base["ndcg@10"])
                                             / base["ndcg@10"], 5)
    out = {"interactions_drawn": args.interactions, "nnz": int(train.nnz), "users": n_users,
           "items": n_items, "dim": args.dim, "epochs": args.epochs, "idle_worker_rss": idle,
           "machine": f"{platform.machine()}, {platform.python_version()}", "runs": runs,
           "wall_s": round(time.perf_counter() - t0, 1)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [f"# Distributed ALS on Ray ({train.nnz:,} interactions, {n_users:,} users, "
             f"{n_items:,} items, dim {args.dim}, {args.epochs} iterations)", "",
             "Two Ray nodes on one 2-core machine (loopback), `bench/scale_ray/run.py`. "
             "Heap: a worker's peak private memory (RssAnon) above its own at start "
             f"(an idle worker's RSS: {idle / 1e6:.0f} MB). Read: bytes a worker read from "
             "other workers' objects per iteration, summed over workers. Model: docs/SCALE.md.", "",
             "| run | s/iter | x single | ndcg@10 | worker heap MB (model) | read MB/iter "
             "(model) |", "|---|---|---|---|---|---|"]
    for r in runs:
        if "workers" in r:
            heap = "/".join(f"{b / 1e6:.0f}" for b in r["worker_heap_bytes"])
            mem = f"{heap} ({r['model']['worker_heap_bytes'] / 1e6:.0f})"
            sent = (f"{r['read_per_iteration_bytes'] / 1e6:.1f} "
                    f"({r['model']['sent_per_iteration'] / 1e6:.1f})")
        else:
            mem, sent = "-", "-"
        ratio = r.get("time_vs_single", 1.0)
        lines.append(f"| {r['run']} | {r['s_per_iteration']} | {ratio} | {r['ndcg@10']} | "
                     f"{mem} | {sent} |")
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
