"""Compressing one trained subword model: compactemb's compress against compress-fasttext 0.1.5,
bytes against the mean Spearman kept.

    pip install compress-fasttext==0.1.5 --no-deps   # (numpy, scipy, sklearn, gensim: in .[test])
    python bench/subword/compress_peer.py [--max-words 1000000] [--dim 100] [--buckets 2000000]
                                          [--model ours.cemb] [--name subword_compress]

The model: our FastText sg trained as bench/subword/run.py trains it (or ``--model``, a saved
subword model). compress-fasttext gets the same model through gensim (our model exported as a
fastText .bin, read with ``gensim.models.fasttext.load_facebook_vectors``), then its own methods:
``prune_ft_freq`` (words by frequency, n-gram buckets by usage x norm, PQ with ``qdim``
sub-vectors and 255 centroids), ``quantize_ft`` (PQ of every row) and ``svd_ft`` (rank-r
fp16). Ours at the same settings: ``compress(kv, "pruned+pq", keep=<buckets>,
keep_words=<words>, n_subvectors=<qdim>)`` (buckets by norm), and ``pruned+int4`` with as many
buckets as fit the same bytes.

Bytes: the size of the saved model file (what a user downloads and loads): compress-fasttext's
``save`` (gensim pickle + arrays), our ``.cemb`` (table + vocabulary). Quality: Spearman on
WordSim-353 and the wordsim-extra sets over every pair whose words have a non-zero vector (OOV
words from their n-grams), for every model the same function (run.py's ``spearman_all``).

Writes bench/results/<name>.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (the same corpus, settings and Spearman as the training bench)

RESULTS = run.RESULTS


def _mean(sims: dict) -> float:
    return round(float(np.mean([v["spearman"] for v in sims.values()])), 4)


def _file_bytes(path: Path) -> int:
    """A saved model's bytes: the file, plus gensim's side files (``path.*.npy``)."""
    return sum(p.stat().st_size for p in path.parent.iterdir()
               if p.name == path.name or p.name.startswith(path.name + "."))


def train_ours(corpus: Path, n_words: int, dim: int, buckets: int, out: Path, seed: int) -> None:
    cfg = {"impl": "compactemb", "mode": "sg", "dim": dim, "threads": 2, "buckets": buckets,
           "corpus": str(corpus), "corpus_words": n_words, "seed": seed, "save": str(out)}
    res = run.child(cfg)
    print(f"  trained: {res['words_per_second']:,} words/s, mean Spearman "
          f"{res['mean_spearman']}", file=sys.stderr, flush=True)


def peer_points(kv, tmp: Path, settings) -> list[dict]:
    import compress_fasttext as cft
    from gensim.models.fasttext import load_facebook_vectors

    from compactemb.formats import save_vectors

    save_vectors(kv, tmp / "model.bin", "fasttext-bin")
    ft = load_facebook_vectors(str(tmp / "model.bin"))
    rows = []
    for name, fn, opts in settings:
        t0 = time.perf_counter()
        small = getattr(cft, fn)(ft, **opts)
        secs = time.perf_counter() - t0
        path = tmp / f"peer_{len(rows)}" / "model.bin"
        path.parent.mkdir()
        small.save(str(path))
        known = set(small.key_to_index)
        sims = run.spearman_all(small.get_vector, known)
        rows.append({"impl": "compress-fasttext", "setting": name, "function": fn,
                     "options": opts, "bytes": _file_bytes(path), "seconds": round(secs, 1),
                     "mean_spearman": _mean(sims), "similarity": sims})
        print(f"  compress-fasttext {name}: {rows[-1]['bytes']:,} B, "
              f"{rows[-1]['mean_spearman']} ({secs:.0f} s)", file=sys.stderr, flush=True)
    return rows


def ours_point(kv, tmp: Path, name: str, method: str, opts: dict) -> dict:
    from compactemb import load
    from compactemb.compress import compress

    t0 = time.perf_counter()
    small = compress(kv, method, **opts)
    secs = time.perf_counter() - t0
    path = tmp / f"ours_{name.replace(' ', '_').replace('/', '_')}.cemb"
    small.save(path)
    back = load(path)
    sims = run.spearman_all(back.__getitem__, set(back.vocab.keys))
    row = {"impl": "compactemb", "setting": name, "method": method, "options": opts,
           "bytes": path.stat().st_size, "seconds": round(secs, 1),
           "mean_spearman": _mean(sims), "similarity": sims}
    print(f"  compactemb {name}: {row['bytes']:,} B, {row['mean_spearman']} ({secs:.0f} s)",
          file=sys.stderr, flush=True)
    return row


def int4_buckets_for(kv, budget: int, n_words: int) -> int:
    """Buckets whose int4 rows (dim/2 + 8 B of scale/offset, + 8 B of bucket id) with
    ``n_words`` int4 word rows and the vocabulary fit ``budget`` bytes (a little under)."""
    per_row = kv.dim // 2 + 8
    words = n_words * (per_row + 24)  # the word's row, its key twice and its count
    return max(1, int((0.97 * budget - words - 4096) // (per_row + 8)))


def markdown(report: dict) -> str:
    lines = ["# Compressing a subword model: compactemb vs compress-fasttext 0.1.5", "",
             f"Model: our FastText sg, dim {report['dim']}, {report['buckets']:,} buckets, "
             f"{report['vocab']:,} words, trained on the first {report['corpus_words']:,} words "
             f"of gutenberg-en-16m part 0 (bench/subword/run.py settings). float32 model file "
             f"{report['base']['bytes']:,} B, mean Spearman {report['base']['mean_spearman']} "
             "(WordSim-353 + 4 wordsim-extra sets, every pair with vectors; coverage 1.0).",
             "", "Bytes = the saved model file (compress-fasttext: gensim `save`; ours: `.cemb`"
             " with the vocabulary). Rows grouped by the compress-fasttext setting they match.",
             "", "| setting | impl | bytes | x smaller | mean Spearman | kept "
             "| ahead at <= bytes |",
             "|---|---|---|---|---|---|---|"]
    base = report["base"]
    for group in report["groups"]:
        peer = group[0]
        for r in group:
            ahead = ""
            if r is not peer:
                ahead = "yes" if (r["bytes"] <= peer["bytes"]
                                  and r["mean_spearman"] > peer["mean_spearman"]) else "no"
            lines.append(f"| {r['setting']} | {r['impl']} | {r['bytes']:,} | "
                         f"{base['bytes'] / r['bytes']:.0f} | {r['mean_spearman']} | "
                         f"{r['mean_spearman'] / base['mean_spearman']:.3f} | {ahead} |")
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-words", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--buckets", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", help="a saved subword model (trained and saved there when "
                    "missing; default: trained in a temporary folder)")
    ap.add_argument("--name", default="subword_compress")
    ap.add_argument("--quick", action="store_true", help="the prune_ft_freq settings only")
    ap.add_argument("--only", type=int, nargs="+", help="run these settings (by position) only")
    ap.add_argument("--opq", action="store_true", help="also ours with an OPQ rotation")
    args = ap.parse_args()
    from compactemb import load

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        corpus = tmp / "corpus.txt"
        n = run.pretokenize(corpus, args.max_words)
        model = Path(args.model) if args.model else tmp / "ours.cemb"
        if not model.exists():  # trained here (and kept at --model when given)
            train_ours(corpus, n, args.dim, args.buckets, model, args.seed)
        kv = load(model)
        n_words = len(kv.vocab)
        base_sims = run.spearman_all(kv.__getitem__, set(kv.vocab.keys))
        base = {"impl": "float32", "setting": "float32", "bytes": model.stat().st_size,
                "mean_spearman": _mean(base_sims), "similarity": base_sims}
        q = args.dim  # compress-fasttext's qdim: sub-vectors (dim / qdim values each)
        half, fifth = n_words // 2, n_words // 5
        prune = [(f"prune_ft_freq words={w:,} ngrams={b:,} qdim={d}", "prune_ft_freq",
                  {"new_vocab_size": w, "new_ngrams_size": b, "qdim": d}, w, b)
                 for w, b, d in [(n_words, 100_000, q), (n_words, 100_000, q // 4),
                                 (n_words, 50_000, q // 4), (half, 20_000, q // 5),
                                 (fifth, 10_000, q // 10)]]
        whole = [] if args.quick else [
            (f"quantize_ft qdim={q // 10}", "quantize_ft",
             {"qdim": q // 10, "sample": 100_000}, None, None),
            (f"svd_ft rank={q // 5} fp16", "svd_ft", {"n_components": q // 5}, None, None)]
        settings = prune + whole
        if args.only:
            settings = [settings[i] for i in args.only]
        peers = peer_points(kv, tmp, [(nm, fn, o) for nm, fn, o, *_ in settings])
        groups = []
        for (name, fn, opts, w, b), peer in zip(settings, peers):
            group = [peer]
            m = opts.get("qdim")
            if fn == "prune_ft_freq":
                group.append(ours_point(kv, tmp, f"{name} (same recipe)", "pruned+pq",
                                        {"keep": b, "keep_words": w, "n_subvectors": m}))
                if args.opq:
                    group.append(ours_point(kv, tmp, f"{name} (same recipe, OPQ)", "pruned+pq",
                                            {"keep": b, "keep_words": w, "n_subvectors": m,
                                             "rotation": True}))
                int4_buckets = int4_buckets_for(kv, peer["bytes"], w)
                group.append(ours_point(kv, tmp, f"int4, {w:,} words, {int4_buckets:,} buckets",
                                        "pruned+int4", {"keep": int4_buckets, "keep_words": w}))
            elif fn == "quantize_ft":
                group.append(ours_point(kv, tmp, f"pq M={m} (same recipe)", "pq",
                                        {"n_subvectors": m}))
            else:
                group.append(ours_point(kv, tmp, f"lowrank r={opts['n_components']}",
                                        "lowrank", {"rank": opts["n_components"]}))
                group.append(ours_point(kv, tmp, "pq M=10", "pq", {"n_subvectors": 10}))
            groups.append(group)
    report = {"corpus_words": n, "dim": args.dim, "buckets": args.buckets, "vocab": n_words,
              "seed": args.seed, "base": base, "groups": groups,
              "machine": f"{os.cpu_count()} cores (shared)"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(report, indent=1))
    (RESULTS / f"{args.name}.md").write_text(markdown(report))
    print(markdown(report))


if __name__ == "__main__":
    main()
