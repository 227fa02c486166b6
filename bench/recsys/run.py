"""Implicit ALS and BPR: compactemb against implicit, same data, split and hyper-parameters.

    python bench/recsys/run.py [--datasets movielens-100k lastfm] [--dims 64 128]
                               [--models als bpr] [--repeats 3] [--threads 2]

Each (dataset, model, dim, library, repeat) runs in its own process, ours and implicit
interleaved, so that machine noise hits both alike. Both libraries get the same training matrix
of a seeded per-user 80/20 hold-out, the same confidences (we pass implicit the matrix
``1 + alpha * w`` resp. ``1 + alpha * log(1 + w)`` with its own alpha = 1), the same factors,
regularisation, iterations, learning rate, seed and thread count, and BLAS limited to one thread
(implicit's advice; it warns otherwise). ndcg@10 and precision@10 of both are computed by
``compactemb.evaluation.ranking_metrics`` (a test shows it equals implicit's
``ranking_metrics_at_k``), excluding training items.

Reported per configuration: seconds per iteration (median of the per-iteration callbacks, best
repeat), total fit seconds (best repeat), quality as the mean over the repeats (repeat r uses
seed r in both libraries; BPR's lock-free threads make every run differ anyway), allocations
during a fit (tracemalloc peak of a separate 2-iteration fit), the process's peak RSS, and
ratios ours / implicit.
Our numba kernels are compiled (or loaded from numba's cache) by a small warm-up fit first;
that time is reported as ``warmup_s`` and is not in the fit times. Writes
bench/results/recsys.json and bench/results/recsys.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("COMPACTEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"

DATASETS = {
    # name: (file, weighting of the ALS confidences)
    "movielens-100k": ("movielens-100k/u.data", "linear"),
    "lastfm": ("lastfm-hetrec2011-2k/user_artists.dat", "log"),
}
PARAMS = {
    "als": {"iterations": 15, "regularization": 0.01, "alpha": 1.0},
    "bpr": {"iterations": 100, "regularization": 0.01, "learning_rate": 0.01},
}


def _data(dataset: str):
    from compactemb.interactions import read_interactions, train_test_split

    path, weighting = DATASETS[dataset]
    inter = read_interactions(DATA / path)
    train, test = train_test_split(inter, 0.2, random_state=0)
    return inter, train, test, weighting


def _fit(lib: str, model: str, dim: int, threads: int, train, weighting: str, iterations: int,
         seed: int = 0, callback=None):
    """Fit one model; returns (user factors, item factors)."""
    from compactemb.interactions import confidence

    p = PARAMS[model]
    if lib == "ours":
        from compactemb.train import ALS, BPR

        if model == "als":
            est = ALS(dim, regularization=p["regularization"], alpha=p["alpha"],
                      weighting=weighting, epochs=iterations, n_threads=threads,
                      random_state=seed)
        else:
            est = BPR(dim, learning_rate=p["learning_rate"], regularization=p["regularization"],
                      epochs=iterations, n_threads=threads, random_state=seed)
        est.fit(train, callback=callback)
        return est.user_factors_, est.item_factors_
    if model == "als":
        from implicit.cpu.als import AlternatingLeastSquares

        conf = confidence(train.matrix, weighting=weighting, alpha=p["alpha"])
        est = AlternatingLeastSquares(factors=dim, regularization=p["regularization"],
                                      alpha=1.0, iterations=iterations, num_threads=threads,
                                      random_state=seed)
        est.fit(conf, show_progress=False, callback=callback)
    else:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        est = BayesianPersonalizedRanking(factors=dim, learning_rate=p["learning_rate"],
                                          regularization=p["regularization"],
                                          iterations=iterations, num_threads=threads,
                                          random_state=seed)
        est.fit(train.matrix, show_progress=False, callback=callback)
    return est.user_factors, est.item_factors


def one_run(dataset: str, model: str, lib: str, dim: int, threads: int, seed: int) -> dict:
    import tracemalloc

    from threadpoolctl import threadpool_limits

    from compactemb.evaluation import ranking_metrics

    threadpool_limits(1, "blas")
    inter, train, test, weighting = _data(dataset)
    t0 = time.perf_counter()
    _fit(lib, model, 8, threads, train, weighting, 1)  # compile / load kernels, start threads
    warmup = time.perf_counter() - t0
    per_iter: list[float] = []
    t0 = time.perf_counter()
    uf, itf = _fit(lib, model, dim, threads, train, weighting, PARAMS[model]["iterations"],
                   seed, callback=lambda it, seconds, *rest: per_iter.append(seconds))
    total = time.perf_counter() - t0
    metrics = ranking_metrics((uf, itf), test, train=train, k=10)
    tracemalloc.start()
    _fit(lib, model, dim, threads, train, weighting, 2)
    alloc_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"dataset": dataset, "model": model, "lib": lib, "dim": dim, "threads": threads,
            "seed": seed,
            "users": inter.shape[0], "items": inter.shape[1], "train_nnz": train.nnz,
            "test_nnz": test.nnz, "weighting": weighting if model == "als" else None,
            "params": PARAMS[model], "warmup_s": round(warmup, 3),
            "seconds_per_iteration": statistics.median(per_iter), "fit_seconds": total,
            "fit_alloc_peak_bytes": int(alloc_peak),
            "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
            "ndcg@10": metrics["ndcg@10"], "precision@10": metrics["precision@10"],
            "map@10": metrics["map@10"], "auc": metrics["auc"]}


def _child(args_list: list[str], threads: int) -> dict:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               OMP_NUM_THREADS=str(threads), NUMBA_NUM_THREADS=str(threads))
    res = subprocess.run([sys.executable, __file__, "--child", *args_list], capture_output=True,
                         text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"child {args_list} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _best(runs: list[dict]) -> dict:
    """Fastest repeat's times; quality averaged over the repeats (seeds 0, 1, ...)."""
    best = dict(min(runs, key=lambda r: r["seconds_per_iteration"]))
    best["fit_seconds"] = min(r["fit_seconds"] for r in runs)
    best["repeats_seconds_per_iteration"] = [round(r["seconds_per_iteration"], 5) for r in runs]
    for key in ("ndcg@10", "precision@10", "map@10", "auc"):
        values = [r[key] for r in runs]
        best[key] = statistics.fmean(values)
        best[f"repeats_{key}"] = [round(v, 5) for v in values]
    best.pop("seed")
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--dims", type=int, nargs="+", default=[64, 128])
    ap.add_argument("--models", nargs="+", default=["als", "bpr"], choices=["als", "bpr"])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child", nargs=5, metavar=("DATASET", "MODEL", "LIB", "DIM", "SEED"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        d, m, lib, dim, seed = args.child
        print(json.dumps(one_run(d, m, lib, int(dim), args.threads, int(seed))))
        return
    for d in args.datasets:
        if not (DATA / DATASETS[d][0]).exists():
            sys.exit(f"needs the shared datasets at {DATA} (set COMPACTEMB_SHARED_DATA)")
    import implicit

    rows = []
    for d in args.datasets:
        for m in args.models:
            for dim in args.dims:
                runs: dict[str, list] = {"ours": [], "implicit": []}
                for seed in range(args.repeats):
                    for lib in ("ours", "implicit"):
                        runs[lib].append(_child([d, m, lib, str(dim), str(seed), "--threads",
                                                 str(args.threads)], args.threads))
                ours, peer = _best(runs["ours"]), _best(runs["implicit"])
                row = {"dataset": d, "model": m, "dim": dim, "ours": ours, "implicit": peer,
                       "ratio_seconds_per_iteration": ours["seconds_per_iteration"]
                       / peer["seconds_per_iteration"],
                       "ratio_fit_seconds": ours["fit_seconds"] / peer["fit_seconds"],
                       "ndcg_relative_difference": (ours["ndcg@10"] - peer["ndcg@10"])
                       / peer["ndcg@10"]}
                if m == "als":
                    row["target"] = "s/iter <= 0.8x implicit and |ndcg diff| <= 1%"
                    row["target_met"] = bool(row["ratio_seconds_per_iteration"] <= 0.8
                                             and abs(row["ndcg_relative_difference"]) <= 0.01)
                else:
                    row["target"] = "s/epoch <= 1.0x implicit and ndcg no worse"
                    row["target_met"] = bool(row["ratio_seconds_per_iteration"] <= 1.0
                                             and ours["ndcg@10"] >= peer["ndcg@10"])
                rows.append(row)
                print(f"{d} {m} {dim}: ours {ours['seconds_per_iteration']:.4f} s/it, implicit "
                      f"{peer['seconds_per_iteration']:.4f} s/it, ratio "
                      f"{row['ratio_seconds_per_iteration']:.3f}; ndcg@10 {ours['ndcg@10']:.4f}"
                      f" vs {peer['ndcg@10']:.4f}", flush=True)
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other "
            "jobs while running)", "python": platform.python_version(),
            "implicit": implicit.__version__, "threads": args.threads,
            "repeats": args.repeats, "date": time.strftime("%Y-%m-%d %H:%M"),
            "split": "per-user random hold-out, 20% test, seed 0",
            "command": "python bench/recsys/run.py " + " ".join(sys.argv[1:])}
    RESULTS.mkdir(parents=True, exist_ok=True)
    from compactemb.storage import write_json

    write_json(RESULTS / "recsys.json", {"meta": meta, "rows": rows})
    (RESULTS / "recsys.md").write_text(_markdown(meta, rows))
    print(_markdown(meta, rows))


def _markdown(meta: dict, rows: list[dict]) -> str:
    lines = ["# Implicit ALS and BPR: compactemb vs implicit", "",
             f"{meta['machine']}; Python {meta['python']}, implicit {meta['implicit']}; "
             f"{meta['threads']} threads each, BLAS 1 thread; times: best of {meta['repeats']} "
             f"interleaved runs, quality: mean over those runs (seeds 0..{meta['repeats'] - 1}); "
             f"{meta['date']}. Split: {meta['split']}. ALS: 15 iterations, "
             "regularization 0.01, CG with 3 steps, confidences 1 + w (MovieLens ratings) or "
             "1 + log(1 + w) (Last.fm play counts). BPR: 100 epochs, learning rate 0.01, "
             "regularization 0.01. Ratios are ours / implicit (below 1: we are faster).", "",
             "| dataset | model | dim | ours s/iter | implicit s/iter | ratio | ours fit s | "
             "implicit fit s | ratio | ours ndcg@10 | implicit ndcg@10 | ndcg diff | "
             "ours p@10 | implicit p@10 | ours alloc MB | implicit alloc MB | ours RSS MB | "
             "implicit RSS MB | target met |",
             "|" + "---|" * 19]
    for r in rows:
        o, p = r["ours"], r["implicit"]
        lines.append(
            f"| {r['dataset']} | {r['model']} | {r['dim']} | {o['seconds_per_iteration']:.4f} | "
            f"{p['seconds_per_iteration']:.4f} | {r['ratio_seconds_per_iteration']:.3f} | "
            f"{o['fit_seconds']:.3f} | {p['fit_seconds']:.3f} | {r['ratio_fit_seconds']:.3f} | "
            f"{o['ndcg@10']:.4f} | {p['ndcg@10']:.4f} | {r['ndcg_relative_difference']:+.2%} | "
            f"{o['precision@10']:.4f} | {p['precision@10']:.4f} | "
            f"{o['fit_alloc_peak_bytes'] / 2**20:.1f} | {p['fit_alloc_peak_bytes'] / 2**20:.1f}"
            f" | {o['peak_rss_bytes'] / 2**20:.0f} | {p['peak_rss_bytes'] / 2**20:.0f} | "
            f"{'yes' if r['target_met'] else 'no'} |")
    lines += ["", "Targets: ALS s/iter <= 0.8x implicit with ndcg@10 within 1% (relative); "
              "BPR s/epoch <= 1.0x implicit with ndcg@10 no worse. Our warm-up (numba compile "
              "or cache load) is not in the fit times: "
              + ", ".join(sorted({f"{r['model']} {r['ours']['warmup_s']:.2f} s" for r in rows}))
              + ". RSS is the whole process (ours includes numba and LLVM, about 90 MB); "
              "alloc is the tracemalloc peak of a 2-iteration fit."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
