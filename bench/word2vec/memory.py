"""Where the peak RSS of word2vec training goes: fixed runtime vs training state.

    python bench/word2vec/memory.py [--parts 0] [--dims 100 300] [--threads 2]

For gensim and compactemb (CBOW; skip-gram holds the same state), each in its own process:
RSS after the imports, after the runtime is ready (for compactemb: the numba kernels loaded,
which is a fixed cost of the numba runtime and LLVM), and the peak during training. The
difference peak - ready is the memory that training itself needs. Writes
bench/results/word2vec_memory.json and .md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
RESULTS = ROOT / "bench" / "results"


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(cfg: dict) -> dict:
    import numpy as np

    sys.path.insert(0, str(HERE))
    from run import COMMON

    start = _rss()
    if cfg["impl"] == "gensim":
        from gensim.models import Word2Vec as GensimWord2Vec

        imported = ready = _rss()
        g = GensimWord2Vec(vector_size=cfg["dim"], sg=0, workers=cfg["threads"], seed=1,
                           window=COMMON["window"], negative=COMMON["negative"],
                           min_count=COMMON["min_count"], sample=COMMON["sample"],
                           epochs=COMMON["epochs"], learning_rate=COMMON["alpha"],
                           min_learning_rate=COMMON["min_alpha"])
        g.build_vocab(corpus_file=cfg["corpus"])
        g.train(corpus_file=cfg["corpus"], total_examples=g.corpus_count,
                total_words=g.corpus_total_words, epochs=COMMON["epochs"])
        n, state = len(g.wv), g.wv.vectors.nbytes + g.syn1neg.nbytes
    else:
        from compactemb.text import Tokenizer
        from compactemb.train import Word2Vec
        from compactemb.train._word2vec import alias_tables, keep_thresholds
        from compactemb.train._word2vec_kernels import sigmoid_tables, train_job

        imported = _rss()
        counts = np.array([3, 2, 1])
        z = np.zeros((3, 4), np.float32)
        train_job(np.frombuffer(np.array([0, 1, -1], np.int32).tobytes(), np.int32), z,
                  z.copy(), keep_thresholds(counts, 0), *alias_tables(counts),
                  *sigmoid_tables(), False, True, True, 2, 2, 0.1, 0.1, 1)
        ready = _rss()
        m = Word2Vec(cfg["dim"], sg=False, n_threads=cfg["threads"], random_state=1,
                     tokenizer=Tokenizer(r"\S+", lowercase=False), **COMMON).fit(cfg["corpus"])
        n, state = len(m.vocab_), m.table_.nbytes + m.output_weights_.nbytes
    peak = _rss()
    return {**{k: v for k, v in cfg.items() if k != "corpus"}, "vocab_size": n,
            "matrices_bytes": state, "rss_start": start, "rss_imported": imported,
            "rss_ready": ready, "rss_peak": peak, "training_increment": peak - ready}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", type=int, nargs="+", default=[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    sys.path.insert(0, str(HERE))
    from run import pretokenize

    from compactemb.storage import atomic_write, write_json

    rows = []
    with tempfile.TemporaryDirectory(prefix="w2v-mem-") as tmp:
        corpus = Path(tmp) / "corpus.txt"
        words = pretokenize(args.parts, corpus)
        for dim in args.dims:
            for impl in ("gensim", "compactemb"):
                cfg = {"impl": impl, "dim": dim, "threads": args.threads, "corpus": str(corpus)}
                res = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)],
                                     capture_output=True, text=True, check=True)
                rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
                print(rows[-1], file=sys.stderr)
    mib = 2**20
    md = ["# word2vec peak memory: runtime vs training state", "",
          f"CBOW, gutenberg-en-16m parts {args.parts} ({words:,} words), {args.threads} threads."
          " RSS in MiB. 'ready' = after imports and (compactemb) the numba kernels loaded.", "",
          "| impl | dim | after imports | ready | peak | peak - ready | V x dim x 2 matrices |",
          "|---|---|---|---|---|---|---|"]
    for r in rows:
        md.append(f"| {r['impl']} | {r['dim']} | {r['rss_imported'] / mib:.0f} | "
                  f"{r['rss_ready'] / mib:.0f} | {r['rss_peak'] / mib:.0f} | "
                  f"{r['training_increment'] / mib:.0f} | {r['matrices_bytes'] / mib:.0f} |")
    write_json(RESULTS / "word2vec_memory.json", {"parts": args.parts, "words": words,
                                                  "threads": args.threads, "runs": rows})
    with atomic_write(RESULTS / "word2vec_memory.md", "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
