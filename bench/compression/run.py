"""Compressed tables: size and quality against FAISS (PQ and scalar quantisers at equal bytes per
vector), lookup throughput of every kind against a float32 table and numpy fancy indexing, and
the memory-vs-quality frontiers of word vectors and of a recommender.

    python bench/compression/run.py [--dim 300] [--parts 0 1 2 3] [--skip-words]

Word vectors: PPMI-SVD (``compactemb.train.PPMISVD``, window 2, min_count 5) on
../shared/data/gutenberg-en-16m (the parts given; cached in the temp directory between runs),
evaluated on the Google analogies (3CosAdd over the 30,000 most frequent words) and WordSim-353
(Spearman). Recommender: ALS (``compactemb.train.ALS``, dim 64) on MovieLens 100K with a seeded
80/20 per-user split, ndcg@10 with training items excluded. Writes
bench/results/compression.json, compression.md and the frontier / memory PNGs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("COMPACTEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
CACHE = Path(tempfile.gettempdir()) / "compactemb-bench"
ANALOGIES = DATA / "google-analogy" / "questions-words.txt"
WORDSIM = DATA / "wordsim353" / "wordsim353.tsv"
RESTRICT = 30000


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# -- data ----------------------------------------------------------------------------------------

def word_vectors(dim: int, parts: list[int]):
    from compactemb.keyed import KeyedVectors
    from compactemb.text import Corpus
    from compactemb.train import PPMISVD

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"words-d{dim}-p{''.join(map(str, parts))}.cemb"
    if path.exists():
        return KeyedVectors.load(path), {"cached": str(path.name)}
    corpus = Corpus([DATA / "gutenberg-en-16m" / f"gutenberg_en_part{p}.txt.xz" for p in parts])
    model = PPMISVD(dim=dim, window=2, min_count=5, random_state=0).fit(corpus)
    kv = model.keyed_vectors()
    kv.save(path)
    return kv, {"timings_s": model.meta_["timings_s"]}


def word_eval(kv) -> dict:
    from compactemb.evaluation import evaluate_analogies, evaluate_similarity

    an = evaluate_analogies(kv, ANALOGIES, restrict=RESTRICT)
    sim = evaluate_similarity(kv, WORDSIM)
    return {"analogy": an.accuracy, "analogy_coverage": an.coverage,
            "spearman_ws353": sim.spearman, "ws353_coverage": sim.coverage}


# -- FAISS at equal bytes per vector --------------------------------------------------------------

def faiss_tables(x: np.ndarray, n_subvectors: list[int], seed: int = 0) -> dict:
    """Decoded tables of FAISS's PQ (M x 8 bits) and scalar quantisers, trained on ``x``."""
    import faiss

    out = {}
    for m in n_subvectors:
        pq = faiss.ProductQuantizer(x.shape[1], m, 8)
        pq.cp.seed = seed
        t0 = time.perf_counter()
        pq.train(x)
        codes = pq.compute_codes(x)
        out[f"faiss PQ (M={m})"] = {"decoded": pq.decode(codes),
                                    "bytes": int(codes.nbytes + pq.centroids.size() * 4),
                                    "bytes_per_vector": m,
                                    "seconds": round(time.perf_counter() - t0, 2)}
    for name, qt in (("faiss SQ8", faiss.ScalarQuantizer.QT_8bit),
                     ("faiss SQ4", faiss.ScalarQuantizer.QT_4bit),
                     ("faiss SQfp16", faiss.ScalarQuantizer.QT_fp16)):
        sq = faiss.ScalarQuantizer(x.shape[1], qt)
        t0 = time.perf_counter()
        sq.train(x)
        codes = sq.compute_codes(x)
        trained = faiss.vector_to_array(sq.trained).size * 4
        out[name] = {"decoded": sq.decode(codes), "bytes": int(codes.nbytes + trained),
                     "bytes_per_vector": int(sq.code_size),
                     "seconds": round(time.perf_counter() - t0, 2)}
    return out


def faiss_comparison(kv, base: dict, settings: list[tuple[str, dict, str]]) -> list[dict]:
    """Ours vs FAISS at the same bytes per vector: quality and reconstruction error."""
    from compactemb.compress import compress
    from compactemb.keyed import KeyedVectors
    from compactemb.tables import DenseTable

    x = kv.table.to_dense().weights
    ms = sorted({o["n_subvectors"] for m, o, _ in settings if m == "pq"}, reverse=True)
    log("faiss: training PQ", ms, "and SQ")
    theirs = faiss_tables(x, ms)
    rows = []
    for method, options, peer in settings:
        t0 = time.perf_counter()
        ours = compress(kv, method, **options)
        secs = time.perf_counter() - t0
        dec = ours.table.to_dense().weights
        q = word_eval(ours)
        f = theirs[peer]
        fq = word_eval(KeyedVectors(kv.vocab, DenseTable(f["decoded"])))
        mse, fmse = float(((dec - x) ** 2).mean()), float(((f["decoded"] - x) ** 2).mean())
        row = {"ours": method + "".join(f" {k}={v}" for k, v in options.items()),
               "peer": peer, "bytes_per_vector_ours": ours.table.nbytes // x.shape[0],
               "bytes_per_vector_peer": f["bytes_per_vector"],
               "bytes_ours": ours.table.nbytes, "bytes_peer": f["bytes"],
               "mse_ours": mse, "mse_peer": fmse, "mse_ratio": mse / fmse if fmse else None,
               "seconds_ours": round(secs, 2), "seconds_peer": f["seconds"]}
        for key in ("analogy", "spearman_ws353"):
            row[f"{key}_ours"], row[f"{key}_peer"] = q[key], fq[key]
            row[f"{key}_float32"] = base[key]
        rows.append(row)
        log("faiss vs ours", row["ours"], "mse", round(mse, 6), round(fmse, 6), "analogy",
            q["analogy"], fq["analogy"])
    return rows


# -- lookup throughput ----------------------------------------------------------------------------

def zipf_ids(n_rows: int, size: int, rng, s: float = 1.0) -> np.ndarray:
    p = 1.0 / np.arange(1, n_rows + 1) ** s
    cum = np.cumsum(p / p.sum())
    return np.minimum(np.searchsorted(cum, rng.random(size)), n_rows - 1).astype(np.int64)


def throughput(tables: dict, weights: np.ndarray, *, batch: int = 4096, n_batches: int = 64,
               repeats: int = 5) -> list[dict]:
    """rows/s of lookup() for batches of Zipf ids (best of ``repeats`` passes)."""
    rng = np.random.default_rng(0)
    batches = [zipf_ids(weights.shape[0], batch, rng) for _ in range(n_batches)]

    def rate(fn) -> float:
        fn(batches[0])  # warm-up (numba compiles here)
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            for b in batches:
                fn(b)
            best = min(best, time.perf_counter() - t0)
        return batch * n_batches / best

    rows = [{"kind": "numpy fancy indexing (float32)", "bytes": int(weights.nbytes),
             "rows_per_s": rate(lambda b: weights[b])}]
    for label, t in tables.items():
        rows.append({"kind": label, "bytes": int(t.nbytes), "rows_per_s": rate(t.lookup)})
        log("lookup", label, f"{rows[-1]['rows_per_s']:.3g} rows/s")
    ref_np = rows[0]["rows_per_s"]
    ref_f32 = next(r["rows_per_s"] for r in rows if r["kind"] == "dense float32")
    for r in rows:
        r["vs_float32_table"] = r["rows_per_s"] / ref_f32
        r["vs_numpy"] = r["rows_per_s"] / ref_np
    return rows


def lookup_tables(kv) -> dict:
    from compactemb.compress import compress_table
    from compactemb.tables import HashedTable, MixedDimTable, QRTable

    t = kv.table
    n, d = t.n_rows, t.dim
    return {
        "dense float32": t,
        "dense float16": compress_table(t, "fp16"),
        "int8": compress_table(t, "int8"),
        "int4": compress_table(t, "int4"),
        "pq (M=30)": compress_table(t, "pq", n_subvectors=30, n_iter=4, sample=20000),
        "lowrank (r=75)": compress_table(t, "svd", rank=75),
        "prune 50% + int8": compress_table(t, "prune+int8", keep=0.5),
        "mixed (4 blocks, /2)": compress_table(t, "mixed", n_blocks=4, shrink=2.0),
        "hashed (k=2, n/8 buckets)": HashedTable.random(n, d, n_buckets=n // 8, n_hashes=2),
        "qr (mul, R=sqrt n)": QRTable.random(n, d, n_remainder=int(np.sqrt(n))),
        "mixed random (train-time)": MixedDimTable.random([n // 10, n - n // 10], [d, d // 4],
                                                          d),
    }


# -- recommender ---------------------------------------------------------------------------------

def recommender(grid) -> dict:
    from compactemb.frontier import frontier, ranking_evaluator
    from compactemb.interactions import read_interactions, train_test_split
    from compactemb.train import ALS

    inter = read_interactions(DATA / "movielens-100k" / "u.data")
    train, test = train_test_split(inter, 0.2, random_state=0)
    t0 = time.perf_counter()
    model = ALS(64, regularization=0.01, alpha=1.0, epochs=15, random_state=0) \
        .fit(train).model_
    log("ALS trained", round(time.perf_counter() - t0, 1), "s")
    evaluate, primary = ranking_evaluator(test.matrix, k=10)
    return frontier(model, evaluate, primary, grid=grid)


ITEM_GRID = [("fp16", {}), ("int8", {}), ("int4", {}),
             ("svd", {"rank": 16}), ("svd", {"rank": 8}),
             ("pq", {"n_subvectors": 32, "n_centroids": 16}),
             ("pq", {"n_subvectors": 16, "n_centroids": 16}),
             ("pq", {"n_subvectors": 16, "n_centroids": 64}),
             ("pq", {"n_subvectors": 8, "n_centroids": 64}),
             ("mixed", {"n_blocks": 3, "shrink": 2.0}),
             # every user keeps its own int4 row; rarely rated items share hashed fallbacks
             ("int4", {"item_method": "prune+int4", "keep": 0.75}),
             ("int4", {"item_method": "prune+int4", "keep": 0.6}),
             ("int4", {"item_method": "prune+int4", "keep": 0.5}),
             ("int4", {"item_method": "prune+int4", "keep": 0.3})]


def word_grid(dim: int, n_rows: int) -> list[tuple[str, dict]]:
    # analogies are answered among the RESTRICT most frequent words, so pruning to RESTRICT
    # rows costs them nothing; pruning to half of it shows the cost where it does
    m30, m15 = dim // 10, dim // 20
    grid = [("fp16", {}), ("int8", {}), ("int4", {}),
            ("svd", {"rank": dim // 2}), ("svd", {"rank": dim // 4}),
            ("pq", {"n_subvectors": dim // 4}), ("pq", {"n_subvectors": m30}),
            ("pq", {"n_subvectors": m15}),
            ("pq", {"n_subvectors": m30, "normalize": True}),
            ("pq", {"n_subvectors": m30, "normalize": True, "rotation": True}),
            ("mixed", {"n_blocks": 4, "shrink": 2.0})]
    if n_rows > RESTRICT:
        grid += [("prune+int4", {"keep": RESTRICT}),
                 ("prune+pq", {"keep": RESTRICT, "n_subvectors": m30}),
                 ("prune+pq", {"keep": RESTRICT, "n_subvectors": m15})]
    grid += [("prune+int4", {"keep": RESTRICT // 2}),
             ("prune+int8", {"keep": RESTRICT // 2})]
    return grid


# -- report ----------------------------------------------------------------------------------------

def markdown(res: dict) -> str:
    from compactemb.frontier import frontier_markdown

    out = ["# Compressed tables: size, quality, lookup speed", "",
           f"Machine: {res['machine']} (shared with other engineers while this ran: absolute "
           "times are noisy, ratios in the same run are what count).", ""]
    if "words" in res:
        w = res["words"]
        out += [f"## Word vectors: PPMI-SVD dim {w['dim']}, {w['n_rows']:,} words "
                f"(gutenberg parts {w['parts']})", ""]
        if "frontier" in w:
            out += [
                f"Analogy: Google questions, 3CosAdd over the {RESTRICT:,} most frequent words "
                f"(coverage {w['baseline']['analogy_coverage']:.1%}); similarity: WordSim-353 "
                f"Spearman (coverage {w['baseline']['ws353_coverage']:.1%}). "
                "Relative = analogy / float32 analogy.", "",
                frontier_markdown(w["frontier"]), ""]
        out += ["### Against FAISS at equal bytes per vector", "",
                "| ours | FAISS | B/vec ours | B/vec FAISS | analogy ours | analogy FAISS | "
                "Spearman ours | Spearman FAISS | MSE ours | MSE FAISS | MSE ratio |",
                "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in w["faiss"]:
            out.append(f"| {r['ours']} | {r['peer']} | {r['bytes_per_vector_ours']} | "
                       f"{r['bytes_per_vector_peer']} | {r['analogy_ours']:.4f} | "
                       f"{r['analogy_peer']:.4f} | {r['spearman_ws353_ours']:.4f} | "
                       f"{r['spearman_ws353_peer']:.4f} | {r['mse_ours']:.3g} | "
                       f"{r['mse_peer']:.3g} | {r['mse_ratio']:.3f} |")
        out += ["", "(B/vec ours: the table's bytes / rows, codebooks and scales included; "
                "FAISS: code size per vector, its codebooks not counted.)", ""]
    if "lookup" in res:
        lk = res["lookup"]
        out += [f"## Lookup throughput (batches of {lk['batch']} Zipf(1.0) ids, best of "
                f"{lk['repeats']} passes of {lk['n_batches']} batches)", "",
                "| kind | bytes | rows/s | vs float32 table | vs numpy fancy indexing |",
                "|---|---|---|---|---|"]
        for r in lk["rows"]:
            out.append(f"| {r['kind']} | {r['bytes']:,} | {r['rows_per_s']:.3g} | "
                       f"{r['vs_float32_table']:.2f}x | {r['vs_numpy']:.2f}x |")
        out.append("")
    if "items" in res:
        it = res["items"]
        out += ["## Recommender: ALS dim 64 on MovieLens 100K (80/20 split), ndcg@10", "",
                frontier_markdown(it), ""]
    if "targets" in res:
        out += ["## Targets", "", "| target | result | met |", "|---|---|---|"]
        for t in res["targets"]:
            out.append(f"| {t['target']} | {t['result']} | {'yes' if t['met'] else 'no'} |")
        out.append("")
    return "\n".join(out)


def targets(res: dict) -> list[dict]:
    out = []
    if "frontier" in res.get("words", {}):
        rows = {r["label"]: r for r in res["words"]["frontier"]["rows"]}
        base = rows["float32"]

        def pts(r, key):
            return 100 * (r[key] - base[key])

        for label, ratio, pts_max in (("int8", 3.5, 0.5), ("int4", 7.0, 1.5)):
            r = rows[label]
            ok = r["ratio"] >= ratio and abs(pts(r, "analogy")) <= pts_max \
                and abs(pts(r, "spearman_ws353")) <= pts_max
            out.append({"target": f"{label}: >= {ratio}x smaller, analogy and Spearman within "
                                  f"{pts_max} points",
                        "result": f"{r['ratio']:.2f}x, analogy {pts(r, 'analogy'):+.2f} pts, "
                                  f"Spearman {pts(r, 'spearman_ws353'):+.2f} pts", "met": ok})
        big = [r for r in rows.values() if r["ratio"] >= 50]
        best = max(big, key=lambda r: r["analogy"]) if big else None
        if best is not None:
            rel = best["analogy"] / base["analogy"]
            out.append({"target": "PQ (with pruning where it helps) >= 50x smaller, within 3% "
                                  "relative",
                        "result": f"best >= 50x: {best['label']} {best['ratio']:.1f}x, analogy "
                                  f"{100 * rel:.1f}% of float32", "met": rel >= 0.97})
        wins = [r for r in res["words"]["faiss"] if r["peer"].startswith("faiss PQ")
                and "normalize" not in r["ours"]]  # exactly equal bytes per vector
        if wins:
            ok = all(r["mse_ours"] <= r["mse_peer"] and r["analogy_ours"] >= r["analogy_peer"]
                     - 0.005 for r in wins)
            out.append({"target": "PQ no worse than FAISS PQ at equal bytes",
                        "result": "; ".join(f"M={r['bytes_per_vector_peer']}: MSE "
                                            f"{r['mse_ratio']:.3f}x FAISS, analogy "
                                            f"{r['analogy_ours']:.4f} vs {r['analogy_peer']:.4f}"
                                            for r in wins), "met": ok})
    if "items" in res:
        rows = res["items"]["rows"]
        key = res["items"]["primary"]
        good = [r for r in rows if r["ratio"] >= 8 and r["relative"] is not None]
        # the smallest setting that keeps 97%, else the best quality among those >= 8x
        keeps = [r for r in good if r["relative"] >= 0.97]
        best = max(keeps, key=lambda r: r["ratio"]) if keeps else \
            max(good, key=lambda r: r["relative"]) if good else None
        out.append({"target": "recommender tables >= 8x smaller at >= 97% of ndcg@10",
                    "result": (f"{best['label']}: {best['ratio']:.1f}x, {key} "
                               f"{100 * best['relative']:.1f}%") if best else "none >= 8x",
                    "met": bool(best and best["relative"] >= 0.97)})
    if "lookup" in res:
        r = next(r for r in res["lookup"]["rows"] if r["kind"] == "int8")
        out.append({"target": "int8 lookup throughput >= 0.8x float32",
                    "result": f"{r['vs_float32_table']:.2f}x", "met": r["vs_float32_table"] >= 0.8})
    return out


def save(res: dict) -> None:
    from compactemb.storage import atomic_write, write_json

    RESULTS.mkdir(parents=True, exist_ok=True)
    res["targets"] = targets(res)
    write_json(RESULTS / "compression.json", res)
    with atomic_write(RESULTS / "compression.md", "w", encoding="utf-8") as f:
        f.write(markdown(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--parts", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--skip-words", action="store_true")
    ap.add_argument("--skip-items", action="store_true")
    ap.add_argument("--skip-lookup", action="store_true")
    args = ap.parse_args()
    from compactemb.frontier import frontier, plot_frontier
    from compactemb.memory import plot_memory_growth

    res: dict = {}
    previous = RESULTS / "compression.json"
    if previous.exists() and (args.skip_words or args.skip_items or args.skip_lookup):
        # a partial run refreshes its sections and keeps the others
        old = json.loads(previous.read_text())
        res = {k: v for k, v in old.items() if (k == "words" and args.skip_words)
               or (k == "items" and args.skip_items) or (k == "lookup" and args.skip_lookup)}
    res.update({"machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                           f"{platform.python_version()}", "started": time.ctime()})
    RESULTS.mkdir(parents=True, exist_ok=True)
    plot_memory_growth(RESULTS / "compression_memory.png", dim=args.dim)
    if not args.skip_items:
        log("recommender frontier")
        res["items"] = recommender(ITEM_GRID)
        plot_frontier(res["items"], RESULTS / "compression_items_frontier.png")
        save(res)
    if not (args.skip_words and args.skip_lookup):
        log("word vectors", args.dim, args.parts)
        kv, info = word_vectors(args.dim, args.parts)
        log("loaded", len(kv), "words")
    if not args.skip_lookup:
        tables = lookup_tables(kv)
        res["lookup"] = {"batch": 4096, "n_batches": 64, "repeats": 5,
                         "rows": throughput(tables, kv.table.weights)}
        save(res)
    if not args.skip_words:
        base = word_eval(kv)
        log("float32", base)
        d = args.dim
        settings = [("int8", {}, "faiss SQ8"), ("int4", {}, "faiss SQ4"),
                    ("fp16", {}, "faiss SQfp16"),
                    ("pq", {"n_subvectors": d // 10}, f"faiss PQ (M={d // 10})"),
                    ("pq", {"n_subvectors": d // 10, "normalize": True},
                     f"faiss PQ (M={d // 10})"),
                    ("pq", {"n_subvectors": d // 20}, f"faiss PQ (M={d // 20})")]
        res["words"] = {"dim": d, "parts": args.parts, "n_rows": len(kv), "baseline": base,
                        "training": info, "faiss": faiss_comparison(kv, base, settings)}
        save(res)

        def evaluate(obj):
            return word_eval(obj)

        res["words"]["frontier"] = frontier(kv, evaluate, "analogy",
                                            grid=word_grid(d, len(kv)))
        plot_frontier(res["words"]["frontier"], RESULTS / "compression_words_frontier.png")
        save(res)
    res["finished"] = time.ctime()
    save(res)
    log("wrote", RESULTS / "compression.md")
    print(json.dumps(res.get("targets", []), indent=1))


if __name__ == "__main__":
    main()
