"""gensim's two input paths give different vectors: corpus_file vs iterable, same settings.

    python bench/word2vec/gensim_paths.py [--parts 0] [--mode sg] [--dim 100] [--seeds 1 2]

With ``corpus_file`` and several workers, each gensim worker decays the learning rate by its
own share of the epoch against the whole corpus's size (word2vec_corpusfile.pyx,
``get_next_alpha``), so with 2 workers the rate only falls half-way in each epoch, jumps back
at the next one and ends near 0.0026 instead of ``min_alpha`` = 0.0001. The iterable path (and
compactemb) decay it linearly over all epochs. This runs the iterable path with the settings of
run.py and the same evaluator, so the quality of run.py's rows can be read against both.
Writes bench/results/word2vec_gensim_iterable_<mode><dim>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parents[1] / "bench" / "results"


def child(cfg: dict) -> dict:
    import resource

    import numpy as np
    from gensim.models import Word2Vec as GensimWord2Vec
    from gensim.models.word2vec import LineSentence

    sys.path.insert(0, str(HERE))
    from run import COMMON, evaluate

    g = GensimWord2Vec(vector_size=cfg["dim"], sg=int(cfg["mode"] == "sg"),
                       workers=cfg["threads"], seed=cfg["seed"], **{
                           "window": COMMON["window"], "negative": COMMON["negative"],
                           "min_count": COMMON["min_count"], "sample": COMMON["sample"],
                           "epochs": COMMON["epochs"], "alpha": COMMON["alpha"],
                           "min_alpha": COMMON["min_alpha"]})
    sentences = LineSentence(cfg["corpus"], max_sentence_length=10**9)
    g.build_vocab(corpus_iterable=sentences)
    t = time.perf_counter()
    g.train(corpus_iterable=sentences, total_examples=g.corpus_count, epochs=COMMON["epochs"])
    train_s = time.perf_counter() - t
    words = int(g.corpus_total_words)
    out = {**{k: v for k, v in cfg.items() if k != "corpus"}, "input": "iterable",
           "train_seconds": round(train_s, 2),
           "words_per_second": round(words * COMMON["epochs"] / train_s),
           "final_alpha": getattr(g, "min_alpha_yet_reached", None),
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    keys = list(g.wv.index_to_key)
    counts = np.array([g.wv.get_vecattr(k, "count") for k in keys])
    out.update(evaluate(keys, np.asarray(g.wv.vectors, np.float32), counts))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", type=int, nargs="+", default=[0])
    ap.add_argument("--mode", default="sg", choices=["sg", "cbow"])
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    sys.path.insert(0, str(HERE))
    from run import pretokenize

    from compactemb.storage import atomic_write, write_json

    runs = []
    with tempfile.TemporaryDirectory(prefix="w2v-paths-") as tmp:
        corpus = Path(tmp) / "corpus.txt"
        words = pretokenize(args.parts, corpus)
        for seed in args.seeds:
            cfg = {"mode": args.mode, "dim": args.dim, "threads": args.threads, "seed": seed,
                   "corpus": str(corpus)}
            res = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)],
                                 capture_output=True, text=True, check=True)
            runs.append(json.loads(res.stdout.strip().splitlines()[-1]))
            print(runs[-1]["words_per_second"], runs[-1]["analogy"], file=sys.stderr)
    name = f"word2vec_gensim_iterable_{args.mode}{args.dim}"
    write_json(RESULTS / f"{name}.json",
               {"parts": args.parts, "words": words, "runs": runs})
    md = [f"# gensim iterable path: {args.mode} dim {args.dim}, parts {args.parts} "
          f"({words:,} words), {args.threads} threads", "",
          "| seed | words/s | analogy acc (coverage) | " +
          " | ".join(f"{k} Spearman" for k in runs[0]["similarity"]) + " |",
          "|---" * (3 + len(runs[0]["similarity"])) + "|"]
    for r in runs:
        md.append(f"| {r['seed']} | {r['words_per_second']:,} | "
                  f"{r['analogy']['accuracy']:.4f} ({r['analogy']['coverage']:.2f}) | " +
                  " | ".join(f"{v['spearman']:.4f}" for v in r["similarity"].values()) + " |")
    with atomic_write(RESULTS / f"{name}.md", "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
