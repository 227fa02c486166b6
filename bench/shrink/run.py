"""Shrink on request (issue 15): the 1-bit, 2-bit and tiered tables on the word-vector frontier,
what ``shrink`` picks for 8x, 32x and 100x budgets, FAISS PQ at equal bytes, lookup throughput.

    nice python bench/shrink/run.py [--models sg svd] [--dim 100] [--parts 0 1 2 3] [--no-faiss]
        [--sections frontier fallback shrink faiss lookup] [--short] [--name NAME]

``--sections`` runs some sections only and merges them into an existing results file of the same
name (so a long benchmark can run in parts under ~15 min each); ``--short`` trims the frontier to
the main settings, skips the ``--min-quality`` run and FAISS RQ. The ``fallback`` section sets
pruning's fallbacks against each other at equal bytes: ``pruned+<m>`` with hash buckets against
``pruned+<m>`` with ``fallback="lowbit"`` (= ``tiered+<m>``), m = int4 and bit2.

Word vectors: skip-gram (``compactemb.train.Word2Vec``, 2 epochs) and PPMI-SVD
(``compactemb.train.PPMISVD``, window 2) with min_count 5 on ../shared/data/gutenberg-en-16m
(the parts given; cached in the temp directory between runs). Quality: Spearman on every
similarity set in ../shared/data (wordsim353, wordsim-extra), as the mean over the sets of
Spearman / float32's Spearman ("mean relative Spearman", the issue's target metric), and
3CosAdd analogy accuracy (Google analogies, 30,000 most frequent words). ``shrink`` picks with
the similarity sets as its evaluator (the target metric; the same sets report it, so the pick
is tuned on them) and, as a check, with its label-free default (neighbour recall@10).
Writes bench/results/shrink.json and shrink.md.
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
SIMILARITY = sorted([*(DATA / "wordsim353").glob("*.tsv"), *(DATA / "wordsim-extra").glob("*.txt")])
BUDGETS = ("8x", "32x", "100x")


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def word_vectors(model: str, dim: int, parts: list[int]):
    from compactemb.keyed import KeyedVectors
    from compactemb.text import Corpus
    from compactemb.train import PPMISVD, Word2Vec

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"shrink-{model}-d{dim}-p{''.join(map(str, parts))}.cemb"
    if path.exists():
        return KeyedVectors.load(path), {"cached": path.name}
    corpus = Corpus([DATA / "gutenberg-en-16m" / f"gutenberg_en_part{p}.txt.xz" for p in parts])
    t0 = time.perf_counter()
    if model == "sg":
        kv = Word2Vec(dim=dim, min_count=5, epochs=2, random_state=0, n_threads=2) \
            .fit(corpus).model_
    else:
        kv = PPMISVD(dim=dim, window=2, min_count=5, random_state=0).fit(corpus) \
            .keyed_vectors()
    kv.save(path)
    return kv, {"train_seconds": round(time.perf_counter() - t0, 1)}


class Quality:
    """Spearman per similarity set, mean relative Spearman and analogy accuracy vs float32."""

    def __init__(self, kv):
        from compactemb.evaluation import read_analogies, read_similarity

        self.sims = {p.name: read_similarity(p) for p in SIMILARITY}
        self.questions = read_analogies(ANALOGIES) if ANALOGIES.exists() else None
        self.base = self.measure(kv, relative=False)

    def spearman(self, kv) -> dict:
        from compactemb.evaluation import evaluate_similarity

        return {name: evaluate_similarity(kv, pairs).spearman for name, pairs in self.sims.items()}

    def measure(self, kv, relative: bool = True, analogy: bool = True) -> dict:
        from compactemb.evaluation import evaluate_analogies

        out = {"spearman": self.spearman(kv)}
        if analogy and self.questions is not None:
            out["analogy"] = evaluate_analogies(kv, self.questions, restrict=30000).accuracy
        if relative:
            out["rel_spearman"] = float(np.mean([out["spearman"][k] / v
                                                 for k, v in self.base["spearman"].items()]))
            if "analogy" in out:
                out["rel_analogy"] = out["analogy"] / self.base["analogy"]
        return out

    def evaluator(self):
        def evaluate(kv) -> dict:
            return {f"spearman:{k}": v for k, v in self.spearman(kv).items()}

        evaluate.metric = "spearman"
        return evaluate


def frontier_settings(dim: int, n: int, short: bool = False) -> list[tuple[str, str, dict]]:
    k = max(8, dim // 32 * 8)  # a quarter of dim, in whole bytes
    if short:
        return [("float16", "float16", {}), ("int8", "int8", {}), ("int4", "int4", {}),
                ("pq (default M)", "pq", {"n_subvectors": _default_m(dim)}),
                ("bit2", "bit2", {}), ("bit2 rotation", "bit2", {"rotation": True}),
                ("bit1", "bit1", {}), ("bit1 rotation", "bit1", {"rotation": True})]
    return [
        ("float16", "float16", {}), ("int8", "int8", {}), ("int4", "int4", {}),
        ("pq (default M)", "pq", {"n_subvectors": _default_m(dim)}),
        ("bit2", "bit2", {}),
        ("bit2 rotation", "bit2", {"rotation": True}),
        ("bit2 scale=both", "bit2", {"scale": "both"}),
        ("bit1", "bit1", {}),
        ("bit1 rotation", "bit1", {"rotation": True}),
        ("bit1 scale=both", "bit1", {"scale": "both"}),
        (f"tiered bit2 40% + 1-bit pca{k}", "tiered+bit2",
         {"keep": int(0.4 * n), "tail_components": k}),
        ("pruned+bit2 keep 48%", "pruned+bit2", {"keep": int(0.48 * n)}),
        (f"tiered bit2 10% + 1-bit pca{max(8, dim // 64 * 8)}", "tiered+bit2",
         {"keep": int(0.1 * n), "tail_components": max(8, dim // 64 * 8)}),
        ("pruned+bit2 keep 15%", "pruned+bit2", {"keep": int(0.15 * n)}),
    ]


def _default_m(dim: int) -> int:
    from compactemb.compress import default_subvectors

    return default_subvectors(dim)


def frontier(kv, quality: Quality, settings) -> list[dict]:
    from compactemb.shrink import _build, float32_bytes, table_bytes

    rows = []
    f32 = float32_bytes(kv)
    for label, method, opts in settings:
        t0 = time.perf_counter()
        small = _build(kv, method, opts)
        secs = time.perf_counter() - t0
        q = quality.measure(small)
        size = table_bytes(small)
        rows.append({"label": label, "method": method, "options": opts, "bytes": size,
                     "ratio": f32 / size, "seconds": round(secs, 2), **q})
        log(f"frontier {label}: {f32 / size:.1f}x rel_spearman {q['rel_spearman']:.3f} "
            f"analogy {q.get('analogy', float('nan')):.3f}")
    return rows


def fallback_rows(kv, quality: Quality) -> list[dict]:
    """pruned+<m> with hash buckets vs fallback="lowbit" (own 1-bit codes) at equal bytes."""
    from compactemb.compress import compress
    from compactemb.shrink import estimate_bytes, float32_bytes, table_bytes

    n, f32 = kv.table.n_rows, float32_bytes(kv)
    rows = []
    for value, head_share in (("int4", 0.25), ("bit2", 0.4), ("bit2", 0.1)):
        low_opts = {"keep": int(head_share * n), "fallback": "lowbit"}
        budget = estimate_bytes(kv, f"pruned+{value}", low_opts)
        lo, hi = 1, n  # largest hash-pruned keep within the same bytes
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if estimate_bytes(kv, f"pruned+{value}", {"keep": mid}) <= budget:
                lo = mid
            else:
                hi = mid - 1
        for label, opts in ((f"pruned+{value} keep {lo:,}, hash fallback", {"keep": lo}),
                            (f"pruned+{value} keep {low_opts['keep']:,}, lowbit fallback "
                             f"(1-bit pca{max(8, kv.table.dim // 32 * 8)} + norm)", low_opts)):
            small = compress(kv, f"pruned+{value}", **opts)
            q = quality.measure(small)
            size = table_bytes(small)
            rows.append({"label": label, "method": f"pruned+{value}", "options": opts,
                         "bytes": size, "ratio": f32 / size, **q})
            log(f"fallback {label}: {f32 / size:.1f}x rel_spearman {q['rel_spearman']:.3f} "
                f"analogy {q.get('analogy', float('nan')):.3f}")
    return rows


def shrink_picks(kv, quality: Quality, short: bool = False) -> list[dict]:
    from compactemb.shrink import shrink

    rows = []
    runs = [(b, None, "spearman") for b in BUDGETS] + [("32x", None, "recall@10 (default)")]
    if not short:
        runs.append((None, 0.97, "spearman"))
    for budget, min_q, evaluator_name in runs:
        ev = quality.evaluator() if evaluator_name == "spearman" else None
        r = shrink(kv, max_bytes=budget, min_quality=min_q, evaluator=ev)
        q = quality.measure(r.obj)
        rows.append({"budget": budget or f"min quality {min_q}", "evaluator": evaluator_name,
                     "met": r.met, "method": r.method, "options": r.options, "bytes": r.bytes,
                     "ratio": r.ratio, "shrink_quality": r.quality,
                     "candidates_tried": r.candidates_tried, "seconds": round(r.seconds, 1),
                     "message": r.message, **q})
        log(f"shrink {rows[-1]['budget']} ({evaluator_name}): {r.message}; analogy "
            f"{q.get('analogy', float('nan')):.3f}")
    return rows


def faiss_rows(kv, quality: Quality, short: bool = False,
               measured: list | None = None) -> list[dict]:
    """FAISS PQ (M x 8 bits) and residual quantisation against shrink at the same bytes."""
    import faiss

    from compactemb.keyed import KeyedVectors
    from compactemb.shrink import float32_bytes, shrink
    from compactemb.tables import DenseTable

    x = np.ascontiguousarray(kv.table.to_dense().weights)
    n, d = x.shape
    f32 = float32_bytes(kv)
    rows = []
    for m in [m for m in (d // 10, d // 4) if m and d % m == 0]:
        for name in (("PQ", "RQ") if m == d // 10 and not short else ("PQ",)):
            t0 = time.perf_counter()
            if name == "PQ":
                quant = faiss.ProductQuantizer(d, m, 8)
                quant.cp.seed = 0
                quant.train(x)
                codes = quant.compute_codes(x)
                extra = quant.centroids.size() * 4
            else:
                quant = faiss.ResidualQuantizer(d, m, 8)
                quant.max_beam_size = 4
                quant.train(x[np.random.default_rng(0).choice(n, min(n, 20000),
                                                              replace=False)])
                codes = quant.compute_codes(x)
                extra = quant.codebooks.size() * 4
            dec = quant.decode(codes)
            secs = time.perf_counter() - t0
            size = int(codes.nbytes + extra)
            theirs = quality.measure(KeyedVectors(kv.vocab, DenseTable(dec)))
            if measured is None:
                ours = shrink(kv, max_bytes=size, evaluator=quality.evaluator())
                mine = quality.measure(ours.obj)
                where, ours_bytes = f"{ours.method} {ours.options}", ours.bytes
            else:  # --short: the best row already measured within the peer's bytes
                best = max((r for r in measured if r["bytes"] <= size),
                           key=lambda r: r["rel_spearman"])
                mine, ours_bytes = best, best["bytes"]
                where = (f"{best.get('label') or best['method']} {best.get('options', '')} "
                         "(best measured row within the bytes)")
            rows.append({"peer": f"faiss {name} M={m}", "bytes": size, "ratio": f32 / size,
                         "peer_seconds": round(secs, 1), "peer_rel_spearman":
                         theirs["rel_spearman"], "peer_analogy": theirs.get("analogy"),
                         "ours": where, "ours_bytes": ours_bytes,
                         "ours_rel_spearman": mine["rel_spearman"],
                         "ours_analogy": mine.get("analogy")})
            log(f"faiss {name} M={m} {f32 / size:.1f}x: {theirs['rel_spearman']:.3f} vs ours "
                f"{mine['rel_spearman']:.3f} ({where})")
    return rows


def throughput(kv) -> list[dict]:
    """rows/s of lookup() for batches of 4096 Zipf ids, best of 5 passes over 64 batches."""
    from compactemb.shrink import _build
    from compactemb.tables import DenseTable

    n, d = kv.table.n_rows, kv.table.dim
    rng = np.random.default_rng(0)
    p = 1.0 / np.arange(1, n + 1)
    cum = np.cumsum(p / p.sum())
    batches = [np.minimum(np.searchsorted(cum, rng.random(4096)), n - 1).astype(np.int64)
               for _ in range(64)]
    tables = {"float32": DenseTable(kv.table.to_dense().weights),
              "bit1": _build(kv.table, "bit1", {}), "bit2": _build(kv.table, "bit2", {}),
              "bit2 rotation": _build(kv.table, "bit2", {"rotation": True}),
              "tiered bit2 + 1-bit pca": _build(
                  kv.table, "tiered+bit2", {"keep": int(0.4 * n),
                                            "tail_components": max(8, d // 32 * 8)})}
    rows = []
    for label, t in tables.items():
        t.lookup(batches[0])
        best = np.inf
        for _ in range(5):
            t0 = time.perf_counter()
            for b in batches:
                t.lookup(b)
            best = min(best, time.perf_counter() - t0)
        rows.append({"kind": label, "rows_per_s": 4096 * 64 / best})
    ref = rows[0]["rows_per_s"]
    for r in rows:
        r["vs_float32"] = r["rows_per_s"] / ref
        log(f"lookup {r['kind']}: {r['rows_per_s']:.3g} rows/s ({r['vs_float32']:.2f}x)")
    return rows


def markdown(res: dict) -> str:
    out = ["# Shrink on request: low-bit and tiered tables, shrink's picks (issue 15)", "",
           f"Generated by `bench/shrink/run.py` on {res['machine']}. Word vectors trained on "
           f"gutenberg-en-16m parts {res['parts']} (min_count 5). Relative Spearman = mean over "
           f"{len(res['similarity_sets'])} similarity sets ({', '.join(res['similarity_sets'])})"
           " of Spearman / float32's; analogy = 3CosAdd accuracy over the 30,000 most frequent "
           "words. Sizes are table bytes; ratio = float32 bytes / bytes.", ""]
    for model in res["models"]:
        m = res[model]
        base = m["float32"]
        if "frontier" not in m:
            m["frontier"] = []
        out += [f"## {model} (d={m['dim']}, {m['rows']:,} words)", "",
                "float32: " + ", ".join(f"{k} {v:.3f}" for k, v in base["spearman"].items())
                + (f"; analogy {base['analogy']:.3f}" if "analogy" in base else ""), "",
                "### Frontier", "",
                "| setting | bytes | ratio | rel. Spearman | analogy (rel.) |",
                "|---|---|---|---|---|"]
        for r in m["frontier"]:
            out.append(f"| {r['label']} | {r['bytes']:,} | {r['ratio']:.1f}x | "
                       f"{r['rel_spearman']:.3f} | {r.get('analogy', float('nan')):.3f} "
                       f"({r.get('rel_analogy', float('nan')):.2f}) |")
        if m.get("fallback"):
            out += ["", "### Pruning fallbacks at equal bytes (hash buckets vs own 1-bit codes)",
                    "", "| setting | bytes | ratio | rel. Spearman | analogy (rel.) |",
                    "|---|---|---|---|---|"]
            for r in m["fallback"]:
                out.append(f"| {r['label']} | {r['bytes']:,} | {r['ratio']:.1f}x | "
                           f"{r['rel_spearman']:.3f} | {r.get('analogy', float('nan')):.3f} "
                           f"({r.get('rel_analogy', float('nan')):.2f}) |")
        sets = list(base["spearman"])
        out += ["", "### What shrink picks", "",
                "| budget | evaluator | met | pick | ratio | rel. Spearman | "
                + " | ".join(f"rel. {k}" for k in sets) + " | analogy (rel.) | candidates | "
                "seconds |", "|---" * (9 + len(sets)) + "|"]
        for r in m.get("shrink", []):
            opts = ", ".join(f"{k}={v}" for k, v in r["options"].items())
            per_set = " | ".join(f"{r['spearman'][k] / base['spearman'][k]:.3f}" for k in sets)
            out.append(f"| {r['budget']} | {r['evaluator']} | {'yes' if r['met'] else 'no'} | "
                       f"{r['method']} {opts} | {r['ratio']:.1f}x | {r['rel_spearman']:.3f} | "
                       f"{per_set} | {r.get('analogy', float('nan')):.3f} "
                       f"({r.get('rel_analogy', float('nan')):.2f}) | {r['candidates_tried']} | "
                       f"{r['seconds']} |")
        if m.get("faiss"):
            out += ["", "### FAISS at equal bytes (ours = shrink's pick within the peer's bytes)",
                    "", "| peer | ratio | peer rel. Spearman | peer analogy | ours | "
                    "ours rel. Spearman | ours analogy |", "|---|---|---|---|---|---|---|"]
            for r in m["faiss"]:
                out.append(f"| {r['peer']} | {r['ratio']:.1f}x | {r['peer_rel_spearman']:.3f} | "
                           f"{r['peer_analogy']:.3f} | {r['ours']} | "
                           f"{r['ours_rel_spearman']:.3f} | {r['ours_analogy']:.3f} |")
        if m.get("lookup"):
            out += ["", "### Lookup throughput (4096 Zipf ids a batch)", "",
                    "| table | rows/s | vs float32 table |", "|---|---|---|"]
            for r in m["lookup"]:
                out.append(f"| {r['kind']} | {r['rows_per_s']:.3g} | {r['vs_float32']:.2f}x |")
        out.append("")
    return "\n".join(out)


SECTIONS = ("frontier", "fallback", "shrink", "faiss", "lookup")


def run_sections(args) -> None:
    path = RESULTS / f"{args.name}.json"
    res = json.loads(path.read_text()) if path.exists() else {}
    res.update({"machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared), load "
                           f"{os.getloadavg()[0]:.1f}",
                "parts": args.parts, "similarity_sets": [p.name for p in SIMILARITY]})
    res.setdefault("models", [])
    for model in args.models:
        kv, info = word_vectors(model, args.dim, args.parts)
        log(model, kv, info)
        quality = Quality(kv)
        m = res.setdefault(model, {})
        m.update({"dim": kv.table.dim, "rows": kv.table.n_rows, "train": info,
                  "float32": quality.base})
        for section in args.sections:
            t0 = time.perf_counter()
            if section == "frontier":
                m["frontier"] = frontier(kv, quality, frontier_settings(
                    kv.table.dim, kv.table.n_rows, args.short))
            elif section == "fallback":
                m["fallback"] = fallback_rows(kv, quality)
            elif section == "shrink":
                m["shrink"] = shrink_picks(kv, quality, args.short)
            elif section == "faiss":
                measured = None
                if args.short:  # compare with rows already measured instead of more shrinks
                    measured = [r for sec in ("frontier", "fallback", "shrink")
                                for r in m.get(sec, [])]
                m["faiss"] = faiss_rows(kv, quality, args.short, measured)
            else:
                m["lookup"] = throughput(kv)
            m.setdefault("section_seconds", {})[section] = round(time.perf_counter() - t0, 1)
        if model not in res["models"]:
            res["models"].append(model)
        RESULTS.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(res, indent=1, default=float))
        (RESULTS / f"{args.name}.md").write_text(markdown(res))
    log("wrote", path, RESULTS / f"{args.name}.md")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["sg", "svd"], choices=["sg", "svd"])
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--parts", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--no-faiss", action="store_true")
    ap.add_argument("--name", default="shrink", help="results file name (without extension)")
    ap.add_argument("--only-lookup", action="store_true",
                    help="re-measure lookup throughput only, into the existing results file")
    ap.add_argument("--only-shrink", action="store_true",
                    help="re-run shrink's picks only, into the existing results file")
    ap.add_argument("--sections", nargs="+", choices=SECTIONS, default=None,
                    help="run these sections only, merged into the results file of --name")
    ap.add_argument("--short", action="store_true",
                    help="main frontier settings only, no --min-quality run, no FAISS RQ")
    args = ap.parse_args()
    if args.sections:
        run_sections(args)
        return
    if args.only_lookup or args.only_shrink:
        path = RESULTS / f"{args.name}.json"
        res = json.loads(path.read_text())
        for model in args.models:
            kv, _ = word_vectors(model, args.dim, args.parts)
            if args.only_lookup:
                res[model]["lookup"] = throughput(kv)
            if args.only_shrink:
                res[model]["shrink"] = shrink_picks(kv, Quality(kv))
        path.write_text(json.dumps(res, indent=1, default=float))
        (RESULTS / f"{args.name}.md").write_text(markdown(res))
        return
    res: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs (shared)",
                 "parts": args.parts, "models": [], "similarity_sets": [p.name for p in SIMILARITY]}
    for model in args.models:
        kv, info = word_vectors(model, args.dim, args.parts)
        log(model, kv, info)
        quality = Quality(kv)
        m = {"dim": kv.table.dim, "rows": kv.table.n_rows, "train": info,
             "float32": quality.base}
        m["frontier"] = frontier(kv, quality, frontier_settings(kv.table.dim, kv.table.n_rows))
        m["shrink"] = shrink_picks(kv, quality)
        if not args.no_faiss:
            try:
                m["faiss"] = faiss_rows(kv, quality)
            except ImportError:
                log("faiss not installed: skipping the FAISS comparison")
        m["lookup"] = throughput(kv)
        res["models"].append(model)
        res[model] = m
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{args.name}.json").write_text(json.dumps(res, indent=1, default=float))
        (RESULTS / f"{args.name}.md").write_text(markdown(res))
    log("wrote", RESULTS / f"{args.name}.json", RESULTS / f"{args.name}.md")


if __name__ == "__main__":
    main()
