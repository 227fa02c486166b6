"""Subword (fastText-style) training: compactemb's FastText against the fastText package and
gensim's FastText, same corpus, same settings, each in its own process.

    python bench/subword/run.py [--max-words 2000000] [--dims 100] [--modes sg cbow]
                                [--threads 2] [--buckets 2000000] [--name subword]
                                [--seed 1] [--no-frontier]

Settings for all three: window 5, negative 5, min_count 5, sample 1e-4, learning rate 0.05
decaying linearly to 0, negatives by count ** 0.5, minn 3, maxn 6, 5 epochs (fastText's
defaults). The corpus is the first ``--max-words`` words of gutenberg-en-16m part 0,
pre-tokenised (lowercased runs of letters, one paragraph per line). words/s = corpus words x
epochs / wall seconds of the whole fit (the fastText package builds its vocabulary inside
``train_unsupervised``, so the whole fit is what can be compared; train-only words/s is given
for ours and gensim's). Peak RSS is the process's, right after training.

Quality: Spearman on WordSim-353 and the wordsim-extra sets over every pair whose two words
have a non-zero vector (unseen words from their n-grams, for all three), with that coverage and
the in-vocabulary coverage. Then the frontier: our trained model compressed (n-gram buckets
pruned by norm, words kept by frequency, int8/int4/PQ on the rest), bytes against the mean
Spearman kept.

Writes bench/results/<name>.json and .md.
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

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("COMPACTEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
COMMON = {"window": 5, "negative": 5, "min_count": 5, "sample": 1e-4, "epochs": 5, "lr": 0.05,
          "minn": 3, "maxn": 6}


def pretokenize(out: Path, max_words: int) -> int:
    from compactemb.text import Tokenizer, iter_lines

    tok, n = Tokenizer(), 0
    with open(out, "w", encoding="utf-8") as f:
        for line in iter_lines(DATA / "gutenberg-en-16m" / "gutenberg_en_part0.txt.xz"):
            words = tok(line)
            if words:
                n += len(words)
                f.write(" ".join(words) + "\n")
            if n >= max_words:
                break
    return n


def similarity_sets() -> dict:
    from compactemb.evaluation import read_similarity

    sets = {"wordsim353": read_similarity(DATA / "wordsim353" / "wordsim353.tsv")}
    for f in sorted((DATA / "wordsim-extra").glob("*.txt")):
        sets[f.stem] = read_similarity(f)
    return sets


def spearman_all(vector, known) -> dict:
    """Spearman over pairs whose words have non-zero vectors; coverage; in-vocab coverage."""
    from scipy.stats import spearmanr

    out = {}
    for name, pairs in similarity_sets().items():
        words = sorted({w.lower() for a, b, _ in pairs for w in (a, b)})
        vecs = {w: np.asarray(vector(w), dtype=np.float64) for w in words}
        norms = {w: float(np.linalg.norm(v)) for w, v in vecs.items()}
        used = [(a.lower(), b.lower(), s) for a, b, s in pairs
                if norms[a.lower()] > 0 and norms[b.lower()] > 0]
        cos = [float(vecs[a] @ vecs[b] / (norms[a] * norms[b])) for a, b, _ in used]
        rho = spearmanr(cos, [s for *_, s in used]).statistic if len(used) > 2 else None
        out[name] = {"spearman": None if rho is None else round(float(rho), 4),
                     "coverage": round(len(used) / len(pairs), 4),
                     "in_vocab_coverage": round(sum(a.lower() in known and b.lower() in known
                                                    for a, b, _ in pairs) / len(pairs), 4)}
    return out


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child(cfg: dict) -> dict:
    path, sg, dim, threads = cfg["corpus"], cfg["mode"] == "sg", cfg["dim"], cfg["threads"]
    c = COMMON
    train_s = None
    t0 = time.perf_counter()
    if cfg["impl"] == "fasttext":
        import fasttext

        m = fasttext.train_unsupervised(path, model="skipgram" if sg else "cbow", dim=dim,
                                        ws=c["window"], neg=c["negative"],
                                        minCount=c["min_count"], t=c["sample"], lr=c["lr"],
                                        epoch=c["epochs"], minn=c["minn"], maxn=c["maxn"],
                                        bucket=cfg["buckets"], thread=threads, verbose=0)
        # (0.9.2 takes no seed here: its runs differ through the threads' timing)
        total_s = time.perf_counter() - t0
        rss = _rss()
        known = set(m.words)
        vector = m.get_word_vector
    elif cfg["impl"] == "gensim":
        from gensim.models import FastText as GensimFastText

        g = GensimFastText(vector_size=dim, sg=int(sg), workers=threads, window=c["window"],
                           negative=c["negative"], min_count=c["min_count"],
                           sample=c["sample"], alpha=c["lr"], min_alpha=1e-6,
                           ns_exponent=0.5, min_n=c["minn"], max_n=c["maxn"],
                           bucket=cfg["buckets"], epochs=c["epochs"], seed=cfg.get("seed", 1))
        g.build_vocab(corpus_file=path)
        t1 = time.perf_counter()
        g.train(corpus_file=path, total_examples=g.corpus_count,
                total_words=g.corpus_total_words, epochs=c["epochs"])
        total_s = time.perf_counter() - t0
        train_s = time.perf_counter() - t1
        rss = _rss()
        known = set(g.wv.index_to_key)
        vector = g.wv.get_vector
    else:
        from compactemb.text import Tokenizer
        from compactemb.train import FastText

        model = FastText(dim, sg=sg, window=c["window"], negative=c["negative"],
                         min_count=c["min_count"], sample=c["sample"], epochs=c["epochs"],
                         learning_rate=c["lr"], min_learning_rate=0.0, minn=c["minn"],
                         maxn=c["maxn"], buckets=cfg["buckets"], n_threads=threads,
                         tokenizer=Tokenizer(r"\S+", lowercase=False),
                         random_state=cfg.get("seed", 1))
        model.fit(path)
        total_s = time.perf_counter() - t0
        train_s = model.meta_["timings_s"]["train"]
        rss = _rss()
        kv = model.model_
        known = set(kv.vocab.keys)
        vector = kv.__getitem__
        if cfg.get("save"):
            kv.save(cfg["save"])
    out = {k: v for k, v in cfg.items() if k not in ("corpus",)}
    out.update({"total_seconds": round(total_s, 2),
                "train_seconds": None if train_s is None else round(train_s, 2),
                "words_per_second": round(cfg["corpus_words"] * c["epochs"] / total_s),
                "train_words_per_second": None if train_s is None else
                round(cfg["corpus_words"] * c["epochs"] / train_s),
                "peak_rss_bytes": rss, "vocab_size": len(known),
                "similarity": spearman_all(vector, known)})
    vals = [v["spearman"] for v in out["similarity"].values() if v["spearman"] is not None]
    out["mean_spearman"] = round(float(np.mean(vals)), 4)
    return out


def run_child(cfg: dict) -> dict:
    t = time.perf_counter()
    res = subprocess.run([sys.executable, __file__, "--child", json.dumps(cfg)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"{cfg['impl']} run failed:\n{res.stderr[-3000:]}")
    out = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"  {cfg['impl']:<10} {cfg['mode']} dim {cfg['dim']}: {out['words_per_second']:,} "
          f"words/s, {out['peak_rss_bytes'] / 2**20:.0f} MiB, mean Spearman "
          f"{out['mean_spearman']} ({time.perf_counter() - t:.0f} s)", file=sys.stderr,
          flush=True)
    return out


def frontier(model_path: str) -> list[dict]:
    """Our trained model compressed: bytes against the mean Spearman kept."""
    from compactemb import KeyedVectors, load
    from compactemb.compress import compress_table
    from compactemb.tables import SubwordTable

    kv = load(model_path)
    table = kv.table
    known = set(kv.vocab.keys)
    base = spearman_all(kv.__getitem__, known)
    base_mean = float(np.mean([v["spearman"] for v in base.values()]))
    full = np.asarray(table.inner)
    rows = [{"method": "float32", "bytes": table.nbytes, "mean_spearman": round(base_mean, 4),
             "kept": 1.0}]
    ngram_norms = np.linalg.norm(full[table.n_rows:], axis=1)
    for keep_buckets, keep_words, method in [(200_000, None, "int8"), (200_000, 20_000, "int4"),
                                             (100_000, 20_000, "int4"), (100_000, None, "pq"),
                                             (50_000, 20_000, "pq")]:
        kept = np.sort(np.argsort(-ngram_norms)[:keep_buckets])
        n_words = table.n_rows if keep_words is None else min(keep_words, table.n_rows)
        matrix = np.concatenate([full[:n_words], full[table.n_rows + kept]])
        opts = {"n_subvectors": 50, "n_centroids": 256} if method == "pq" else {}
        inner = compress_table(matrix, method, **opts)
        from compactemb.vocab import Vocab

        vocab = Vocab(kv.vocab.keys[:n_words], kv.vocab.counts[:n_words])
        sub = SubwordTable(inner, vocab.keys, minn=table.minn, maxn=table.maxn,
                           buckets=table.buckets, kept_buckets=kept)
        small = KeyedVectors(vocab, sub)
        sims = spearman_all(small.__getitem__, set(vocab.keys))
        mean = float(np.mean([v["spearman"] for v in sims.values()]))
        rows.append({"method": f"{keep_buckets:,} buckets by norm, "
                     f"{'all' if keep_words is None else f'{keep_words:,}'} words, {method}",
                     "bytes": small.table.nbytes + small.vocab.nbytes,
                     "mean_spearman": round(mean, 4), "kept": round(mean / base_mean, 4)})
        print(f"  frontier {rows[-1]}", file=sys.stderr, flush=True)
    for r in rows:
        r["times_smaller"] = round(rows[0]["bytes"] / r["bytes"], 1)
    return rows


def markdown(report: dict) -> str:
    lines = ["# Subword training: compactemb FastText vs the fastText package vs gensim FastText",
             "", f"Corpus: first {report['corpus_words']:,} words of gutenberg-en-16m part 0 "
             f"(pre-tokenised), {report['threads']} threads, buckets {report['buckets']:,}, "
             f"settings {COMMON}. Machine: {report['machine']} (shared with other jobs: "
             "timings are noisy).", ""]
    for c in report["configs"]:
        runs = c["runs"]
        lines += [f"## {c['mode']} dim {c['dim']}", "",
                  "| | " + " | ".join(r["impl"] for r in runs) + " |",
                  "|---|" + "---|" * len(runs)]
        lines.append("| words/s (whole fit) | " + " | ".join(f"{r['words_per_second']:,}"
                                                          for r in runs) + " |")
        lines.append("| words/s (training only) | " + " | ".join(
            "n/a" if r["train_words_per_second"] is None else f"{r['train_words_per_second']:,}"
            for r in runs) + " |")
        lines.append("| peak RSS MiB | " + " | ".join(f"{r['peak_rss_bytes'] / 2**20:,.0f}"
                                                    for r in runs) + " |")
        lines.append("| vocabulary | " + " | ".join(f"{r['vocab_size']:,}" for r in runs) + " |")
        for name in runs[0]["similarity"]:
            lines.append(f"| {name} Spearman (coverage / in vocab) | " + " | ".join(
                f"{r['similarity'][name]['spearman']} ({r['similarity'][name]['coverage']} / "
                f"{r['similarity'][name]['in_vocab_coverage']})" for r in runs) + " |")
        lines.append("| mean Spearman | " + " | ".join(str(r["mean_spearman"]) for r in runs)
                     + " |")
        lines.append("")
    if report.get("frontier"):
        lines += ["## Compressing our trained model (sg)", "",
                  "| model | bytes | x smaller | mean Spearman | kept |", "|---|---|---|---|---|"]
        for r in report["frontier"]:
            lines.append(f"| {r['method']} | {r['bytes']:,} | {r['times_smaller']} | "
                         f"{r['mean_spearman']} | {r['kept']} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--max-words", type=int, default=2_000_000)
    ap.add_argument("--dims", type=int, nargs="+", default=[100])
    ap.add_argument("--modes", nargs="+", default=["sg", "cbow"])
    ap.add_argument("--impls", nargs="+", default=["fasttext", "compactemb", "gensim"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--buckets", type=int, default=2_000_000)
    ap.add_argument("--name", default="subword")
    ap.add_argument("--seed", type=int, default=1, help="seed of every run")
    ap.add_argument("--no-frontier", action="store_true")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus.txt"
        n = pretokenize(corpus, args.max_words)
        report = {"corpus_words": n, "threads": args.threads, "buckets": args.buckets,
                  "machine": f"{platform.machine()}, {os.cpu_count()} cores", "configs": []}
        saved = None
        for mode in args.modes:
            for dim in args.dims:
                runs = []
                for impl in args.impls:
                    cfg = {"impl": impl, "mode": mode, "dim": dim, "threads": args.threads,
                           "buckets": args.buckets, "corpus": str(corpus), "corpus_words": n,
                           "seed": args.seed}
                    if impl == "compactemb" and mode == "sg" and saved is None \
                            and not args.no_frontier:
                        saved = cfg["save"] = str(Path(tmp) / "ours.cemb")
                    runs.append(run_child(cfg))
                report["configs"].append({"mode": mode, "dim": dim, "runs": runs})
        if saved:
            report["frontier"] = frontier(saved)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    (RESULTS / f"{args.name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
