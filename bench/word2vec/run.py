"""compactemb Word2Vec against gensim's, same corpus, same hyperparameters, same run.

    python bench/word2vec/run.py [--parts 0] [--dims 100 300] [--modes sg cbow] [--threads 2]

For each (mode, dim): gensim with seed 1, ours, gensim with seed 2 (interleaved, so that load
drifting on a shared machine hits both alike), each in its own process so that its peak RSS
is its own, measured right after training (before evaluation). Both read the same
pre-tokenised file (lowercased runs of letters, one paragraph per line): gensim through its
fastest path, ``corpus_file``; ours through ``Word2Vec.fit(path)``. words/s = corpus words x
epochs / training wall time (vocabulary building excluded for both, reported separately);
words per CPU-second is reported too, as it is less sensitive to other processes.

Quality, for both, with compactemb's evaluator: Google analogies (3CosAdd, restrict 300,000,
accuracy over answered questions, with coverage) and Spearman (with coverage) on WordSim-353
and the sets in wordsim-extra. "Same quality" means: ours is no worse than the mean of the two
gensim seeds by more than their spread |seed 1 - seed 2|.

Writes bench/results/word2vec.json and bench/results/word2vec.md (``--name`` changes the
name). Companions: ``memory.py`` (peak RSS split into runtime and training state) and
``gensim_paths.py`` (gensim's iterable input path, whose learning-rate schedule differs from
its corpus_file path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("COMPACTEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
COMMON = {"window": 5, "negative": 5, "min_count": 5, "sample": 1e-3, "epochs": 5,
          "alpha": 0.025, "min_alpha": 0.0001}


def pretokenize(parts: list[int], out: Path, max_words: int | None = None) -> int:
    from compactemb.text import Tokenizer, iter_lines

    tok = Tokenizer()
    n = 0
    with open(out, "w", encoding="utf-8") as f:
        for p in parts:
            for line in iter_lines(DATA / "gutenberg-en-16m" / f"gutenberg_en_part{p}.txt.xz"):
                words = tok(line)
                if words:
                    n += len(words)
                    f.write(" ".join(words) + "\n")
                if max_words is not None and n >= max_words:
                    return n
    return n


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(cfg: dict) -> dict:
    """One training run (in its own process); returns its measurements."""
    import numpy as np

    path, sg, dim, threads = cfg["corpus"], cfg["mode"] == "sg", cfg["dim"], cfg["threads"]
    if cfg["impl"] == "gensim":
        from gensim.models import Word2Vec as GensimWord2Vec

        t0 = time.perf_counter()
        g = GensimWord2Vec(vector_size=dim, sg=int(sg), workers=threads, seed=cfg["seed"],
                           window=COMMON["window"], negative=COMMON["negative"],
                           min_count=COMMON["min_count"], sample=COMMON["sample"],
                           epochs=COMMON["epochs"], learning_rate=COMMON["alpha"],
                           min_learning_rate=COMMON["min_alpha"])
        g.build_vocab(corpus_file=path)
        t1 = time.perf_counter()
        c1 = time.process_time()
        g.train(corpus_file=path, total_examples=g.corpus_count,
                total_words=g.corpus_total_words, epochs=COMMON["epochs"])
        t2 = time.perf_counter()
        cpu = time.process_time() - c1
        rss = _rss()
        words = int(g.corpus_total_words)
        keys, vectors = list(g.wv.index_to_key), np.asarray(g.wv.vectors, dtype=np.float32)
        counts = np.array([g.wv.get_vecattr(k, "count") for k in keys])
        vocab_s, train_s = t1 - t0, t2 - t1
    else:
        from compactemb.text import Tokenizer
        from compactemb.train import Word2Vec

        model = Word2Vec(dim, sg=sg, n_threads=threads, random_state=cfg["seed"],
                         shared_negatives=cfg.get("shared_negatives", True),
                         tokenizer=Tokenizer(r"\S+", lowercase=False), **COMMON)
        run_train = model._train
        cpu_box = {}

        def timed_train(*args):  # CPU seconds of the training phase only
            c = time.process_time()
            try:
                return run_train(*args)
            finally:
                cpu_box["cpu"] = time.process_time() - c

        model._train = timed_train
        model.fit(path)
        rss = _rss()
        cpu = cpu_box["cpu"]
        words = model.meta_["corpus_tokens"]
        vocab_s = model.meta_["timings_s"]["tokenize"]
        train_s = model.meta_["timings_s"]["train"]
        kv = model.keyed_vectors()
        keys, vectors, counts = kv.vocab.keys, kv.table.weights, kv.vocab.counts
    out = {**{k: v for k, v in cfg.items() if k != "corpus"}, "corpus_words": words,
           "vocab_size": len(keys), "vocab_seconds": round(vocab_s, 2),
           "train_seconds": round(train_s, 2), "train_cpu_seconds": round(cpu, 2),
           "words_per_second": round(words * COMMON["epochs"] / train_s),
           "words_per_cpu_second": round(words * COMMON["epochs"] / cpu),
           "peak_rss_bytes": rss}
    out.update(evaluate(keys, vectors, counts))
    return out


def evaluate(keys, vectors, counts) -> dict:
    from compactemb import DenseTable, KeyedVectors, Vocab
    from compactemb.evaluation import evaluate_analogies, evaluate_similarity

    kv = KeyedVectors(Vocab(keys, counts), DenseTable(vectors))
    an = evaluate_analogies(kv, DATA / "google-analogy" / "questions-words.txt")
    sims = {"wordsim353": DATA / "wordsim353" / "wordsim353.tsv"}
    for f in sorted((DATA / "wordsim-extra").glob("*.txt")):
        sims[f.stem] = f
    return {"analogy": {"accuracy": an.accuracy, "coverage": an.coverage,
                        "answered": an.answered, "total": an.total},
            "similarity": {k: {"spearman": r.spearman, "coverage": r.coverage}
                           for k, r in ((k, evaluate_similarity(kv, p))
                                        for k, p in sims.items())}}


def run_child(cfg: dict) -> dict:
    t = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{cfg['impl']} run failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"  {cfg['impl']:<12} {cfg['mode']} dim {cfg['dim']}: "
          f"{out['words_per_second']:,} words/s, {out['peak_rss_bytes'] / 2**20:.0f} MiB, "
          f"analogy {out['analogy']['accuracy']:.4f} "
          f"({time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)
    return out


def metrics(r: dict) -> dict:
    m = {"analogy": r["analogy"]["accuracy"]}
    m.update({k: v["spearman"] for k, v in r["similarity"].items()})
    return m


def compare(g1: dict, ours: dict, g2: dict) -> dict:
    """Ratios and the quality verdict of one configuration."""
    gensim_wps = (g1["words_per_second"] + g2["words_per_second"]) / 2
    gensim_cpu = (g1["words_per_cpu_second"] + g2["words_per_cpu_second"]) / 2
    gensim_rss = max(g1["peak_rss_bytes"], g2["peak_rss_bytes"])
    quality = {}
    m1, m2, mo = metrics(g1), metrics(g2), metrics(ours)
    for k in m1:
        if m1[k] is None or m2[k] is None or mo[k] is None:
            continue
        spread = abs(m1[k] - m2[k])
        mean = (m1[k] + m2[k]) / 2
        quality[k] = {"ours": round(mo[k], 4), "gensim_mean": round(mean, 4),
                      "gensim_spread": round(spread, 4), "diff": round(mo[k] - mean, 4),
                      "ok": mo[k] >= mean - spread}
    return {"speedup_words_per_second": round(ours["words_per_second"] / gensim_wps, 3),
            "speedup_words_per_cpu_second": round(ours["words_per_cpu_second"] / gensim_cpu, 3),
            "rss_ratio": round(ours["peak_rss_bytes"] / gensim_rss, 3),
            "targets": {"speed_1.5x": ours["words_per_second"] >= 1.5 * gensim_wps,
                        "quality_within_seed_spread": all(q["ok"] for q in quality.values()),
                        "peak_rss_not_above_gensim": ours["peak_rss_bytes"] <= gensim_rss},
            "quality": quality}


def markdown(report: dict) -> str:
    lines = ["# word2vec: compactemb vs gensim", "",
             f"Corpus: gutenberg-en-16m parts {report['parts']} ({report['corpus_words']:,} "
             f"words, pre-tokenised), {report['threads']} threads, hyperparameters "
             f"{report['hyperparameters']}. Machine: {report['machine']}.", "",
             report["note"], ""]
    for c in report["configs"]:
        g1, ours, g2, cmp_ = c["gensim_seed1"], c["ours"], c["gensim_seed2"], c["comparison"]
        lines += [f"## {c['mode']} dim {c['dim']}", "",
                  "| | gensim seed 1 | gensim seed 2 | compactemb | ratio (ours / gensim) |",
                  "|---|---|---|---|---|"]

        runs = (g1, g2, ours)
        row = _row_writer(lines, runs)
        row("words/s", "words_per_second", "{:,}".format,
            f"**{cmp_['speedup_words_per_second']}x**")
        row("words / CPU-s", "words_per_cpu_second", "{:,}".format,
            f"{cmp_['speedup_words_per_cpu_second']}x")
        row("training wall s", "train_seconds", str)
        row("vocab / tokenise s", "vocab_seconds", str)
        row("peak RSS MiB", "peak_rss_bytes", lambda b: f"{b / 2**20:.0f}",
            f"{cmp_['rss_ratio']}x")
        an = [x["analogy"] for x in runs]
        lines.append("| analogy acc (coverage) | " + " | ".join(
            f"{a['accuracy']:.4f} ({a['coverage']:.2f})" for a in an) + " | |")
        for k in g1["similarity"]:
            s = [x["similarity"][k] for x in runs]
            lines.append(f"| {k} Spearman (coverage) | " + " | ".join(
                "n/a" if v["spearman"] is None else f"{v['spearman']:.4f} ({v['coverage']:.2f})"
                for v in s) + " | |")
        q = cmp_["quality"]
        bad = [k for k, v in q.items() if not v["ok"]]
        t = cmp_["targets"]
        lines += ["", f"Targets: speed >= 1.5x: **{t['speed_1.5x']}**; quality within the "
                  f"gensim seed spread: **{t['quality_within_seed_spread']}**"
                  f"{' (below on: ' + ', '.join(bad) + ')' if bad else ''}; peak RSS <= "
                  f"gensim: **{t['peak_rss_not_above_gensim']}**", ""]
        if "ours_exact" in c:
            ex = c["ours_exact"]
            lines += [f"gensim-exact sampling (`shared_negatives=False`): "
                      f"{ex['words_per_second']:,} words/s, analogy "
                      f"{ex['analogy']['accuracy']:.4f}, WordSim-353 "
                      f"{ex['similarity']['wordsim353']['spearman']:.4f}", ""]
    return "\n".join(lines) + "\n"


def _row_writer(lines: list[str], runs):
    def row(name, key, fmt, ratio=""):
        lines.append(f"| {name} | " + " | ".join(fmt(r[key]) for r in runs) + f" | {ratio} |")

    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--parts", type=int, nargs="+", default=[0])
    ap.add_argument("--dims", type=int, nargs="+", default=[100, 300])
    ap.add_argument("--modes", nargs="+", default=["sg", "cbow"], choices=["sg", "cbow"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--exact", action="store_true",
                    help="also run ours with shared_negatives=False (gensim's sampling) for sg")
    ap.add_argument("--max-words", type=int, help="cut the corpus (a quick smoke run)")
    ap.add_argument("--name", default="word2vec", help="results file name (without suffix)")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    import gensim  # noqa: F401  (fail early when the peer is missing)

    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="w2v-bench-") as tmp:
        corpus = Path(tmp) / "corpus.txt"
        words = pretokenize(args.parts, corpus, args.max_words)
        print(f"pre-tokenised {words:,} words", file=sys.stderr)
        configs = []
        for mode in args.modes:
            for dim in args.dims:
                base = {"corpus": str(corpus), "mode": mode, "dim": dim, "threads": args.threads}
                g1 = run_child({**base, "impl": "gensim", "seed": 1})
                ours = run_child({**base, "impl": "compactemb", "seed": 1})
                g2 = run_child({**base, "impl": "gensim", "seed": 2})
                c = {"mode": mode, "dim": dim, "gensim_seed1": g1, "ours": ours,
                     "gensim_seed2": g2, "comparison": compare(g1, ours, g2)}
                if args.exact and mode == "sg":
                    c["ours_exact"] = run_child({**base, "impl": "compactemb-exact", "seed": 1,
                                                 "shared_negatives": False})
                configs.append(c)
                _write(args, words, configs)


def _write(args, words, configs) -> None:
    import gensim

    import compactemb
    from compactemb.storage import atomic_write, write_json

    report = {
        "benchmark": "word2vec", "parts": args.parts, "max_words": args.max_words,
        "corpus_words": words,
        "threads": args.threads, "hyperparameters": COMMON,
        "versions": {"compactemb": compactemb.__version__, "gensim": gensim.__version__,
                     "python": platform.python_version()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, shared with other jobs",
        "note": ("The machine was shared with other engineers' jobs while this ran: absolute "
                 "numbers move with the load; ratios come from runs interleaved in the same "
                 "session. gensim trains through corpus_file (its fastest path); ours through "
                 "Word2Vec.fit on the same file."),
        "configs": configs,
    }
    name = args.name + ("" if args.max_words is None else "_smoke")
    write_json(RESULTS / f"{name}.json", report)
    with atomic_write(RESULTS / f"{name}.md", "w", encoding="utf-8") as f:
        f.write(markdown(report))


if __name__ == "__main__":
    main()
