"""The rest of the Ray jobs: ALS from Parquet shards read as a Ray Dataset, and compress --ray.

    nice python bench/scale_ray/shards.py [--interactions 3000000] [--epochs 3] [--shards 8]

1. The synthetic log of run.py (train part) is written as ``--shards`` Parquet files. Two
   drivers, each a fresh process joining the same two-node loopback LocalCluster (2 logical
   CPUs per node), train RayALS with 2 workers: ``driver`` reads the files itself
   (pyarrow) into an Interactions and ships the shards (the path before); ``shards`` gives
   RayALS the files (InteractionShards: read, indexed and cut on the cluster). Reported: the
   seconds before the first iteration (read + index + shards), per iteration, the driver's
   peak RSS above its RSS after imports, and that both models are equal.
2. compress: a random float32 table compressed locally and with ``compress_on_ray`` (tasks on
   the same cluster) by int8 and by pq; seconds and whether the saved files are identical.

Writes bench/results/ray_shards.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "bench" / "results"


def _rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def child(mode: str, folder: str, address: str, dim: int, epochs: int) -> None:
    """One driver: train RayALS from the shards (mode 'shards') or from its own read."""
    import ray

    from compactemb.distributed import InteractionShards, RayALS
    from compactemb.distributed._cluster import LOOPBACK, pin_loopback
    from compactemb.interactions import Interactions

    pin_loopback()
    ray.init(address=address, _node_ip_address=LOOPBACK, logging_level="error",
             log_to_driver=False)
    import pyarrow.parquet  # noqa: F401 - both drivers load these: not counted
    import ray.data  # noqa: F401

    base = _rss()
    t = time.perf_counter()
    files = sorted(str(p) for p in Path(folder).glob("*.parquet"))
    if mode == "driver":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.concat_tables([pq.read_table(f) for f in files])
        data = Interactions.from_arrays(table.column("user"), table.column("item"),
                                        table.column("weight").to_numpy().astype(np.float32))
        del table
    else:
        data = InteractionShards(files)
    read_s = time.perf_counter() - t
    est = RayALS(dim=dim, epochs=epochs, regularization=0.05, random_state=0, address=address,
                 n_workers=2, partition="broadcast").fit(data)
    fit_s = time.perf_counter() - t
    its = est.iteration_seconds_
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    np.save(Path(folder) / f"items_{mode}.npy", est.item_factors_)
    print("RESULT " + json.dumps({
        "mode": mode, "read_s": round(read_s, 2),
        "before_first_iteration_s": round(fit_s - sum(its), 2),
        "s_per_iteration": round(float(np.median(its)), 3), "fit_s": round(fit_s, 2),
        "driver_peak_rss_above_start_bytes": peak - base,
        "users": len(est.model_.user_vocab), "items": len(est.model_.item_vocab),
        "nnz": est.model_.meta["n_interactions"],
        "phases_s": {k: round(v, 2) for k, v in getattr(est, "read_seconds_", {}).items()}}))
    ray.shutdown()


def markdown(out: dict) -> list[str]:
    """The results as a Markdown table."""
    lines = [f"# Ray: ALS from {out['shards']} Parquet shards, compress --ray "
             f"({out['interactions']:,} interactions, dim {out['dim']}, "
             f"{out['epochs']} iterations)",
             "", "Two Ray nodes on one 2-core machine (loopback), `bench/scale_ray/shards.py`; "
             "2 ALS workers (broadcast). `driver`: the driver reads the Parquet files and ships "
             "the shards; `shards`: InteractionShards, read and indexed on the cluster. Driver "
             "RSS: its peak above its RSS after connecting and importing pyarrow and ray.data.",
             "",
             "| driver reads? | before 1st iteration s (read / index / shards) | s/iter | fit s "
             "| driver peak RSS MB |", "|---|---|---|---|---|"]
    for r in out["als"]:
        phases = " / ".join(str(v) for v in r.get("phases_s", {}).values())
        lines.append(f"| {r['mode']} | {r['before_first_iteration_s']}"
                     f"{f' ({phases})' if phases else ''} | "
                     f"{r['s_per_iteration']} | {r['fit_s']} | "
                     f"{r['driver_peak_rss_above_start_bytes'] / 1e6:.0f} |")
    lines += ["", f"Item factors, shards vs driver: max |diff| "
              f"{out['max_abs_diff_item_factors']:.2e}.", "",
              f"compress of a {out['compress'][0]['rows']:,} x 64 float32 table:", "",
              "| method | local s | ray s | same file |", "|---|---|---|---|"]
    for r in out["compress"]:
        lines.append(f"| {r['method']} | {r['local_s']} | {r['ray_s']} | "
                     f"{r['identical_file']} |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interactions", type=int, default=3_000_000)
    ap.add_argument("--users", type=int, default=200_000)
    ap.add_argument("--items", type=int, default=50_000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--shards", type=int, default=8)
    ap.add_argument("--table-rows", type=int, default=500_000)
    ap.add_argument("--child", nargs=3, metavar=("MODE", "FOLDER", "ADDRESS"))
    args = ap.parse_args()
    if args.child:
        child(*args.child, args.dim, args.epochs)
        return

    import pyarrow as pa
    import pyarrow.parquet as pq
    import ray

    sys.path.insert(0, str(HERE))
    from run import synthetic_log

    from compactemb.compress import compress
    from compactemb.distributed import LocalCluster, compress_on_ray
    from compactemb.distributed._cluster import LOOPBACK, pin_loopback
    from compactemb.tables import DenseTable

    t0 = time.perf_counter()
    m = synthetic_log(args.interactions, args.users, args.items).tocoo()
    rng = np.random.default_rng(0)
    order = rng.permutation(m.nnz)  # a log in no particular order
    folder = tempfile.mkdtemp(prefix="cemb-shards-")
    cuts = np.linspace(0, m.nnz, args.shards + 1).astype(np.int64)
    for s, (a, b) in enumerate(zip(cuts, cuts[1:])):
        rows = order[a:b]
        pq.write_table(pa.table({"user": m.row[rows].astype(np.int64) + 10_000_000,
                                 "item": m.col[rows].astype(np.int64) + 500_000,
                                 "weight": m.data[rows]}),
                       os.path.join(folder, f"part-{s:03d}.parquet"))
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"{m.nnz:,} interactions in {args.shards} Parquet files ({size / 1e6:.0f} MB)",
          flush=True)
    out: dict = {"interactions": int(m.nnz), "shards": args.shards, "parquet_bytes": size,
                 "dim": args.dim, "epochs": args.epochs, "als": [], "compress": []}
    cluster = LocalCluster(n_nodes=2, cpus_per_node=2, object_store_memory=1_500_000_000)
    try:
        env = dict(os.environ, **cluster.env)
        for mode in ("driver", "shards"):
            proc = subprocess.run([sys.executable, __file__, "--child", mode, folder,
                                   cluster.address, "--dim", str(args.dim), "--epochs",
                                   str(args.epochs)], env=env, capture_output=True, text=True)
            line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
            if proc.returncode or not line:
                raise SystemExit(proc.stderr[-3000:])
            out["als"].append(json.loads(line[0][7:]))
            print(line[0], flush=True)
        a, b = (np.load(os.path.join(folder, f"items_{k}.npy")) for k in ("driver", "shards"))
        out["max_abs_diff_item_factors"] = float(np.abs(a - b).max())
        with cluster.driver_env():
            pin_loopback()
            ray.init(address=cluster.address, _node_ip_address=LOOPBACK,
                     logging_level="error", log_to_driver=False)
            table = DenseTable(rng.standard_normal((args.table_rows, 64)).astype(np.float32))
            for method, opts in (("int8", {}), ("pq", {"n_subvectors": 16, "n_iter": 10})):
                t = time.perf_counter()
                local = compress(table, method, **opts)
                local_s = time.perf_counter() - t
                t = time.perf_counter()
                dist = compress_on_ray(table, method, address=cluster.address, **opts)
                ray_s = time.perf_counter() - t
                local.save(os.path.join(folder, "local.cemb"))
                dist.save(os.path.join(folder, "ray.cemb"))
                same = Path(folder, "local.cemb").read_bytes() == \
                    Path(folder, "ray.cemb").read_bytes()
                r = {"method": method, "rows": args.table_rows, "dim": 64, "local_s":
                     round(local_s, 2), "ray_s": round(ray_s, 2), "identical_file": same}
                out["compress"].append(r)
                print(json.dumps(r), flush=True)
            ray.shutdown()
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.stop()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ray_shards.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = markdown(out)
    (RESULTS / "ray_shards.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
