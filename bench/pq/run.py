"""A better PQ (issue 15 part 4): PQ / OPQ / RQ / 4-bit PQ at 8x..100x against FAISS, and
4-bit fast-scan search against 8-bit ADC and FAISS IndexPQFastScan.

    nice python bench/pq/run.py [--models sg] [--ratios 8 16 32 64 100] [--no-lsq]

Word vectors: as bench/shrink (skip-gram d=100, 2 epochs, min_count 5, all four Gutenberg
parts, cached in the temp directory). For each ratio every method gets the same byte budget
``float32 bytes / ratio`` for its whole table (codes + codebooks + rotation), and its settings
are the most code bits a row within it (``pq_settings_for_bytes`` for PQ/OPQ, the same rule for
RQ and 4-bit PQ); FAISS gets exactly our settings (same M / stages and bits) and is charged its
own code size. Quality: mean relative Spearman over the similarity sets and 3CosAdd analogy
accuracy (bench/shrink's ``Quality``). FAISS RQ and LSQ train on 16,384 sampled rows (their
training at 42k rows took minutes); ours on all rows.

Search: 1,000 word vectors as queries (inner product, k=10, exact scan over all rows, one
thread for both libraries, best of 3), recall@10 against float32; and the same on 100,000
synthetic clustered rows with 1,000 held-out queries. Writes bench/results/pq.md and pq.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
FAISS_SAMPLE = 16384


def _shrink_bench():
    spec = importlib.util.spec_from_file_location("shrink_bench", ROOT / "bench" / "shrink" /
                                                  "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def _best_bits(cands):
    """The (bits a row, size) - maximal candidate: most code bits, ties to more centroids."""
    return max(cands, key=lambda c: (c["bits"], c["k"])) if cands else None


def rq_settings(n, dim, budget):
    from compactemb.tables import RQTable

    cands = [{"n_stages": s, "n_centroids": k, "bits": s * int(np.log2(k)), "k": k}
             for s in range(1, 33) for k in (16, 32, 64, 128, 256)
             if RQTable.estimate_nbytes(n, dim, n_stages=s, n_centroids=k) <= budget]
    best = _best_bits(cands)
    return None if best is None else {"n_stages": best["n_stages"],
                                      "n_centroids": best["n_centroids"]}


def pq4_settings(n, dim, budget, rotation=False):
    from compactemb.tables import PQ4Table

    fits = [m for m in range(1, dim + 1) if dim % m == 0 and PQ4Table.estimate_nbytes(
        n, dim, n_subvectors=m, rotation=rotation) <= budget]
    return {"n_subvectors": max(fits)} if fits else None


def pq_settings(n, dim, budget, rotation=False):
    from compactemb.exceptions import InputError
    from compactemb.tables._pq import pq_settings_for_bytes

    try:
        return pq_settings_for_bytes(n, dim, budget, rotation=rotation)
    except InputError:
        return None


def ours(kv, method, opts):
    from compactemb.compress import compress

    return compress(kv, method, **opts)


def faiss_table(kv, kind, opts, seed=0):
    """(KeyedVectors of the decoded rows, bytes, the FAISS index) for FAISS at our settings."""
    import faiss

    from compactemb import DenseTable, KeyedVectors

    x = np.ascontiguousarray(np.asarray(kv.table), dtype=np.float32)
    n, d = x.shape
    ip = faiss.METRIC_INNER_PRODUCT
    extra = 0
    if kind in ("pq", "opq"):
        m, nbits = opts["n_subvectors"], int(np.log2(opts["n_centroids"]))
        index = faiss.IndexPQ(d, m, nbits, ip)
        books = m * (1 << nbits) * (d // m) * 4
        if kind == "opq":
            opq = faiss.OPQMatrix(d, m)
            opq.niter = 8  # ours alternates 8 times; FAISS's default 50 took 280 s here
            index = faiss.IndexPreTransform(opq, index)
            extra = d * d * 4
        train = x
    elif kind == "pq4":
        index = faiss.IndexPQFastScan(d, opts["n_subvectors"], 4, ip)
        books = 16 * d * 4
        train = x
    else:
        s, nbits = opts["n_stages"], int(np.log2(opts["n_centroids"]))
        cls = faiss.IndexResidualQuantizer if kind == "rq" else faiss.IndexLocalSearchQuantizer
        index = cls(d, s, nbits, ip)
        books = s * (1 << nbits) * d * 4
        rng = np.random.default_rng(seed)
        train = x[np.sort(rng.choice(n, min(n, FAISS_SAMPLE), replace=False))]
    index.train(train)
    index.add(x)
    dec = index.reconstruct_n(0, n) if kind != "pq4" else _pq4_decode(index, x)
    size = n * index.sa_code_size() + books + extra
    return KeyedVectors(kv.vocab, DenseTable(dec.astype(np.float32)), {}), size, index


def _pq4_decode(index, x):
    """IndexPQFastScan has no reconstruct: decode its PQ's codes of the rows."""
    pq = index.pq
    return pq.decode(pq.compute_codes(x))


def frontier(kv, quality, ratios, lsq):
    from compactemb.shrink import float32_bytes, table_bytes

    f32 = float32_bytes(kv)
    n, dim = kv.table.shape
    q_rows = np.asarray(kv.table)[:1000]
    rows = []
    for ratio in ratios:
        budget = f32 // ratio
        plan = [("ours", "PQ", "pq", pq_settings(n, dim, budget)),
                ("ours", "OPQ", "pq", pq_settings(n, dim, budget, rotation=True)),
                ("ours", "RQ", "rq", rq_settings(n, dim, budget)),
                ("ours", "PQ 4-bit", "pq4", pq4_settings(n, dim, budget))]
        faiss_plan = [("FAISS", "PQ", "pq", plan[0][3]), ("FAISS", "OPQ", "opq", plan[1][3]),
                      ("FAISS", "RQ", "rq", plan[2][3]),
                      ("FAISS", "PQ 4-bit fast scan", "pq4", plan[3][3])]
        if lsq and ratio >= 32:
            faiss_plan.append(("FAISS", "LSQ", "lsq", plan[2][3]))
        for side, label, method, opts in plan + faiss_plan:
            if opts is None:
                log(f"{ratio}x {side} {label}: nothing fits")
                continue
            opts = dict(opts)
            if label.startswith("OPQ") and side == "ours":
                opts["rotation"] = True
            if method == "rq" and side == "ours" and opts["n_stages"] > 4:
                opts.update(beam=4, refine_iter=1)  # time: beam 8 x 2 refits at 7-14 stages
            t0 = time.perf_counter()
            index = None
            if side == "ours":
                small = ours(kv, method, opts)
                size = table_bytes(small)
            else:
                small, size, index = faiss_table(kv, method, opts)
            build = time.perf_counter() - t0
            m = quality.measure(small)
            # FAISS's RQ/LSQ index search decodes every row per query (13 q/s here): skipped
            qps = None if method in ("rq", "lsq") and side == "FAISS" else \
                _qps(small.table, index, q_rows)
            bits = (opts.get("n_subvectors", 0) * (4 if method == "pq4" else
                                                   int(np.log2(opts.get("n_centroids", 256))))
                    or opts["n_stages"] * int(np.log2(opts["n_centroids"])))
            opts = {k: v for k, v in opts.items() if k not in ("beam", "refine_iter")} \
                if side == "FAISS" else opts
            row = {"ratio_target": ratio, "side": side, "method": label, "options": opts,
                   "bytes": int(size), "ratio": f32 / size, "code_bits": bits,
                   "build_seconds": round(build, 1), "queries_per_s": qps, **m}
            rows.append(row)
            log(f"{ratio}x {side} {label} {opts}: {row['ratio']:.1f}x rel_spearman "
                f"{m['rel_spearman']:.3f} analogy {m.get('analogy', float('nan')):.3f} "
                f"build {build:.0f}s {qps} q/s")
    return rows


def _qps(table, index, q, repeat=2):
    """Queries/s of an exact inner-product top-10 scan, one thread (ours: search; FAISS: its
    index)."""
    import faiss
    import numba

    from compactemb.search import search

    numba.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    fn = (lambda: search(table, q, k=10, metric="dot", approximate=False)) if index is None \
        else (lambda: index.search(q, 10))
    fn()
    best = min(_timed(fn) for _ in range(repeat))
    numba.set_num_threads(2)
    faiss.omp_set_num_threads(2)
    return round(q.shape[0] / best, 1)


def _timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def recall(ids, truth):
    k = truth.shape[1]
    return float(np.mean([len(set(a[:k]) & set(b)) / k for a, b in zip(ids, truth)]))


def fast_scan(x, queries, label, code_bytes=(10, 25), repeat=3):
    """Queries/s and recall@10 of 8-bit ADC vs 4-bit fast scan at equal code bytes, both
    libraries, one thread."""
    import faiss
    import numba

    from compactemb.search import search
    from compactemb.tables import PQ4Table, PQTable

    numba.set_num_threads(1)
    faiss.omp_set_num_threads(1)
    n, d = x.shape
    truth = np.argsort(-(queries @ x.T), axis=1)[:, :10]
    rows = []
    for nb in code_bytes:
        ours8 = PQTable.from_dense(x, n_subvectors=nb, n_iter=10)
        ours4 = PQ4Table.from_dense(x, n_subvectors=2 * nb, n_iter=10)
        f8 = faiss.IndexPQ(d, nb, 8, faiss.METRIC_INNER_PRODUCT)
        f4 = faiss.IndexPQFastScan(d, 2 * nb, 4, faiss.METRIC_INNER_PRODUCT)
        for index in (f8, f4):
            index.train(x)
            index.add(x)
        for name, fn in (
                (f"ours PQ 8-bit M={nb}", lambda t=ours8: search(t, queries, k=10, metric="dot",
                                                                   approximate=False).ids),
                (f"ours PQ 4-bit fast scan M={2 * nb}",
                 lambda t=ours4: search(t, queries, k=10, metric="dot", approximate=False).ids),
                (f"FAISS IndexPQ M={nb}", lambda f=f8: f.search(queries, 10)[1]),
                (f"FAISS IndexPQFastScan M={2 * nb}", lambda f=f4: f.search(queries, 10)[1])):
            ids = fn()
            secs, cpu = [], []
            for _ in range(repeat):
                t, c = time.perf_counter(), time.process_time()
                fn()
                secs.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            row = {"data": label, "code_bytes": nb, "method": name,
                   "queries_per_s": round(len(queries) / min(secs), 1),
                   "queries_per_cpu_s": round(len(queries) / min(cpu), 1),
                   "recall_at_10": round(recall(ids, truth), 4)}
            rows.append(row)
            log(f"fast scan {label} {name}: {row['queries_per_s']:,.0f} q/s "
                f"(per CPU-s {row['queries_per_cpu_s']:,.0f}) recall {row['recall_at_10']:.3f}")
    numba.set_num_threads(2)
    faiss.omp_set_num_threads(2)
    return rows


def clustered(n, dim, seed=0, centres=2000):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(centres, dim))
    x = c[rng.integers(0, centres, n)] + 0.5 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def markdown(out) -> str:
    lines = [f"# Better PQ: PQ / OPQ / RQ / 4-bit PQ vs FAISS ({out['model']})", "",
             f"{out['rows']:,} words x d={out['dim']}; float32 wordsim353 "
             f"{out['base']['spearman']['wordsim353.tsv']:.3f}, analogy "
             f"{out['base'].get('analogy', float('nan')):.3f}. Equal bytes per ratio (codes + "
             "codebooks + rotation); FAISS at our settings. queries/s: exact inner-product "
             "top-10 of 1,000 word queries over all rows, one thread.", "",
             "| target | side | method | settings | ratio | code bits/row | rel. Spearman | "
             "analogy | build s | queries/s |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in out["frontier"]:
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items())
        qps = "-" if r["queries_per_s"] is None else f"{r['queries_per_s']:,.0f}"
        lines.append(f"| {r['ratio_target']}x | {r['side']} | {r['method']} | {opts} | "
                     f"{r['ratio']:.1f}x | {r['code_bits']} | {r['rel_spearman']:.3f} | "
                     f"{r.get('analogy', float('nan')):.3f} | {r['build_seconds']} | "
                     f"{qps} |")
    lines += ["", "## 4-bit fast scan vs 8-bit ADC at equal code bytes (one thread)", "",
              "| data | code bytes | method | queries/s | per CPU-s | recall@10 |",
              "|---|---|---|---|---|---|"]
    for r in out["fast_scan"]:
        lines.append(f"| {r['data']} | {r['code_bytes']} | {r['method']} | "
                     f"{r['queries_per_s']:,.0f} | {r['queries_per_cpu_s']:,.0f} | "
                     f"{r['recall_at_10']:.3f} |")
    lines += ["", f"Machine: {out['machine']}; load average at start {out['load_start']}, "
              f"end {out['load_end']} (shared: seconds are noisy)."]
    return "\n".join(lines) + "\n"


def main():
    import os

    import faiss
    import numba

    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="sg", choices=["sg", "svd"])
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--ratios", type=int, nargs="+", default=[8, 16, 32, 64, 100])
    ap.add_argument("--no-lsq", action="store_true")
    ap.add_argument("--no-fast-scan", action="store_true")
    ap.add_argument("--out", default="pq")
    args = ap.parse_args()
    sb = _shrink_bench()
    load_start = os.getloadavg()[0]
    kv, info = sb.word_vectors(args.model, args.dim, [0, 1, 2, 3])
    quality = sb.Quality(kv)
    log("base", quality.base)
    out = {"model": args.model, "dim": args.dim, "rows": kv.table.n_rows, "vectors": info,
           "base": quality.base}
    out["frontier"] = frontier(kv, quality, args.ratios, not args.no_lsq)
    fs = []
    if not args.no_fast_scan:
        x = np.ascontiguousarray(np.asarray(kv.table), dtype=np.float32)
        fs += fast_scan(x, x[:1000], "word vectors")
        syn = clustered(101_000, args.dim)
        fs += fast_scan(syn[:100_000], syn[100_000:], "100k clustered", code_bytes=(10,))
    out["fast_scan"] = fs
    out["machine"] = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    out["versions"] = {"faiss": faiss.__version__, "numba": numba.__version__,
                       "numpy": np.__version__}
    out["load_start"], out["load_end"] = round(load_start, 1), round(os.getloadavg()[0], 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.out}.json").write_text(json.dumps(out, indent=1))
    (RESULTS / f"{args.out}.md").write_text(markdown(out))
    log("wrote", RESULTS / f"{args.out}.md")


if __name__ == "__main__":
    main()
