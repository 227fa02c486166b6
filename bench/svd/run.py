"""PPMI-SVD word vectors on the Gutenberg 16M-token corpus: time, peak memory, quality.

    python bench/svd/run.py [--dims 100 300] [--parts 0 1 2 3] [--window 2]

Each configuration runs in its own process so that its peak RSS is its own. Writes
bench/results/svd.json and bench/results/svd.md. Reference points from
../shared/research/baselines.md (gensim word2vec on part 0 only, 5 epochs, dim 100): analogy
15.9%, WordSim-353 Spearman 0.36.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("COMPACTEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"


def one_run(dim: int, parts: list[int], window: int, eig: float) -> dict:
    from compactemb.evaluation import evaluate_analogies, evaluate_similarity
    from compactemb.text import Corpus
    from compactemb.train import PPMISVD

    corpus = Corpus([DATA / "gutenberg-en-16m" / f"gutenberg_en_part{p}.txt.xz" for p in parts])
    t0 = time.perf_counter()
    model = PPMISVD(dim=dim, window=window, eig=eig, min_count=5, random_state=0).fit(corpus)
    train_s = time.perf_counter() - t0
    print(f"dim {dim}: trained in {train_s:.1f} s {model.meta_['timings_s']}", file=sys.stderr)
    kv = model.keyed_vectors()
    out = {"dim": dim, "window": window, "eig": eig, "parts": parts,
           "tokens": model.vocab_.build_info["tokens"], "vocab_size": len(kv),
           "train_seconds": round(train_s, 2), "timings_s": model.meta_["timings_s"],
           "cooccurrence_nnz": model.meta_["cooccurrence_nnz"],
           "table_bytes": kv.table.nbytes}
    an = evaluate_analogies(kv, DATA / "google-analogy" / "questions-words.txt")
    out["analogy"] = {"accuracy": an.accuracy, "coverage": an.coverage, "answered": an.answered,
                      "total": an.total}
    an_mul = evaluate_analogies(kv, DATA / "google-analogy" / "questions-words.txt",
                                method="mul")
    out["analogy_3cosmul"] = {"accuracy": an_mul.accuracy, "coverage": an_mul.coverage}
    sims = {"wordsim353": DATA / "wordsim353" / "wordsim353.tsv"}
    for f in sorted((DATA / "wordsim-extra").glob("*.txt")):
        sims[f.stem] = f
    out["similarity"] = {k: evaluate_similarity(kv, p).to_dict() for k, p in sims.items()}
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dims", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--parts", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--window", type=int, default=2)
    ap.add_argument("--eig", type=float, default=0.5)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(one_run(args.dims[0], args.parts, args.window, args.eig)))
        return
    if not (DATA / "gutenberg-en-16m").exists():
        sys.exit(f"needs the shared datasets at {DATA} (set COMPACTEMB_SHARED_DATA)")
    runs = []
    for dim in args.dims:
        cmd = [sys.executable, __file__, "--child", "--dims", str(dim), "--window",
               str(args.window), "--eig", str(args.eig), "--parts", *map(str, args.parts)]
        res = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True)
        runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1], indent=1))
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(), "date": time.strftime("%Y-%m-%d %H:%M")}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "svd.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=2) + "\n")
    lines = ["# PPMI-SVD on gutenberg-en-16m", "",
             f"{meta['machine']}, {meta['date']}. Window {args.window}, eig {args.eig}, "
             "min_count 5, cds 0.75. Load average at the end (1/5/15 min): "
             f"{meta['load_average_at_end']} (other jobs on the machine slow the times).", "",
             "| dim | tokens | vocab | train s | peak RSS MB | analogy acc (3CosAdd) | coverage "
             "| 3CosMul | WS-353 ρ | WS-353 cov | MTurk-771 ρ | SimVerb ρ |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        s = r["similarity"]
        lines.append(
            f"| {r['dim']} | {r['tokens']:,} | {r['vocab_size']:,} | {r['train_seconds']} | "
            f"{r['peak_rss_bytes'] / 2**20:.0f} | {r['analogy']['accuracy']:.4f} | "
            f"{r['analogy']['coverage']:.3f} | {r['analogy_3cosmul']['accuracy']:.4f} | "
            f"{s['wordsim353']['spearman']:.3f} | {s['wordsim353']['coverage']:.3f} | "
            f"{s.get('EN-MTurk-771', {}).get('spearman') or float('nan'):.3f} | "
            f"{s.get('EN-SimVerb-3500', {}).get('spearman') or float('nan'):.3f} |")
    (RESULTS / "svd.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
