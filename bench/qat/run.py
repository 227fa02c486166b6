"""Quantisation-aware word2vec (issue 15 part 3): Word2Bits-style 1/2-bit training against
post-training quantisation of the float32 model at equal bytes, and the 32x / 100x targets.

    nice python bench/qat/run.py [--runs 1:100 2:100] [--parts 0 1 2 3]

Same corpus and settings as bench/shrink (skip-gram, 2 epochs, min_count 5, seed 0, 2 threads,
all four Gutenberg parts; the float32 model is bench/shrink's, cached in the temp directory).
Each QAT run (``bits:dim``) trains ``Word2Vec(bits=...)`` once; its shadow weights are cached so
both final vectors are scored: the codes of input + output weights (Word2Bits' output, the
default) and of the input weights alone. Quality: mean over the five similarity sets of Spearman
/ float32's Spearman, and 3CosAdd analogy accuracy (30,000 most frequent words). Ratios are
against the float32 d=100 table (n_rows x 100 x 4 bytes), sizes are table ``nbytes``.
Writes bench/results/qat.json and qat.md.
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
_spec = importlib.util.spec_from_file_location("shrink_bench", ROOT / "bench/shrink/run.py")
shrink_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(shrink_bench)
DATA, CACHE, RESULTS = shrink_bench.DATA, shrink_bench.CACHE, shrink_bench.RESULTS
log = shrink_bench.log


def qat_weights(bits: int, dim: int, parts: list[int], vocab_keys: list,
                float_epochs: int = 0, epochs: int = 2) -> dict:
    """Train (or read from the cache) a QAT skip-gram model; its shadow weights and timings."""
    from compactemb.text import Corpus
    from compactemb.train import Word2Vec

    warm = (f"-w{float_epochs}" if float_epochs else "") + (f"-e{epochs}" if epochs != 2 else "")
    path = CACHE / f"qat-sg-b{bits}-d{dim}{warm}-p{''.join(map(str, parts))}.npz"
    if path.exists():
        z = np.load(path)
        return {"input": z["input"], "output": z["output"], "train_seconds": float(z["seconds"]),
                "cached": path.name}
    corpus = Corpus([DATA / "gutenberg-en-16m" / f"gutenberg_en_part{p}.txt.xz" for p in parts])
    t0 = time.perf_counter()
    model = Word2Vec(dim=dim, min_count=5, epochs=epochs, random_state=0, n_threads=2, bits=bits,
                     float_epochs=float_epochs).fit(corpus)
    seconds = time.perf_counter() - t0
    assert list(model.vocab_.keys) == list(vocab_keys), "vocabulary differs from float32's"
    np.savez(path, input=model.shadow_weights_, output=model.output_weights_, seconds=seconds)
    return {"input": model.shadow_weights_, "output": model.output_weights_,
            "train_seconds": round(seconds, 1),
            "words_per_second": model.meta_["words_per_second"]}


def row(name: str, table, vocab, quality, base_bytes: int, **extra) -> dict:
    from compactemb.keyed import KeyedVectors

    t0 = time.perf_counter()
    q = quality.measure(KeyedVectors(vocab, table))
    out = {"setting": name, "kind": table.kind, "bytes": int(table.nbytes),
           "ratio": round(base_bytes / table.nbytes, 2), **q, **extra,
           "eval_seconds": round(time.perf_counter() - t0, 1)}
    log(f"{name:55s} {out['ratio']:6.1f}x  rel.Spearman {q['rel_spearman']:.3f}  "
        f"analogy {q.get('analogy', float('nan')):.3f}")
    return out


def tiered_at(head_fn, tail_fn, x_head, x_tail, budget: int):
    """The TieredTable with the most head rows whose bytes stay within ``budget``.

    Bytes are linear in the head rows: the per-row and fixed bytes of each part are measured
    on 16 and 32 rows, the head size solved, then the table built once (and checked).
    """
    from compactemb.tables import TieredTable

    def linear(fn, m):
        b16, b32 = fn(m[:16]).nbytes, fn(m[:32]).nbytes
        return (b32 - b16) / 16, b16 - 16 * (b32 - b16) / 16

    n = x_head.shape[0]
    (hr, hf), (tr, tf) = linear(head_fn, x_head), linear(tail_fn, x_tail)
    keep = int((budget - hf - tf - tr * n) // (hr - tr))
    keep = max(0, min(n, keep))
    while True:
        t = TieredTable(head_fn(x_head[:keep]), tail_fn(x_tail[keep:]))
        if t.nbytes <= budget or keep == 0:
            return t
        keep -= 8


def hundredfold(w, x, vocab, quality, base_bytes: int, label: str,
                baseline: bool = True) -> list[dict]:
    """100x: a tiered table, head = QAT 1-bit codes of the frequent words, tail = 1-bit codes
    of a few principal directions of the rest (of the same QAT vectors, or of float32's)."""
    from compactemb.tables import Bit1Table, Bit2Table
    from compactemb.train._word2vec import qat_table

    out = []
    s = w["input"] + w["output"]
    qvals = qat_table(s, 1).to_dense().weights
    budget = base_bytes // 100
    for comps in (8, 16):
        for tail_name, src in (("QAT codes", qvals), ("QAT shadow", s), ("float32", x))[
                :3 if baseline else 2]:
            t = tiered_at(lambda m: qat_table(m, 1), lambda m, c=comps: Bit1Table.from_dense(
                m, rotation="pca", n_components=c), s, src, budget)
            out.append(row(
                f"{label}: tiered, QAT head {t.n_head} + pca{comps} 1-bit tail of {tail_name}",
                t, vocab, quality, base_bytes, target="100x"))
    if not baseline:
        return out
    t = tiered_at(Bit2Table.from_dense, lambda m: Bit1Table.from_dense(
        m, rotation="pca", n_components=8), x, x, budget)
    out.append(row(f"post-training tiered bit2 head {t.n_head} + pca8 tail", t, vocab, quality,
                   base_bytes, target="100x"))
    return out


def save(res: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "qat.json").write_text(json.dumps(res, indent=1, default=float) + "\n")
    (RESULTS / "qat.md").write_text(markdown(res))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs="+", default=["1:100", "2:100"],
                    help="QAT runs as bits:dim")
    ap.add_argument("--parts", nargs="+", type=int, default=[0, 1, 2, 3])
    args = ap.parse_args()
    from compactemb.tables import Bit1Table, Bit2Table
    from compactemb.train._word2vec import qat_table

    kv, info = shrink_bench.word_vectors("sg", 100, args.parts)
    quality = shrink_bench.Quality(kv)
    vocab, n = kv.vocab, len(kv)
    base_bytes = n * 100 * 4
    log(f"float32 d=100: {n} words, {info}, {quality.base}")
    res: dict = {"machine": f"{platform.machine()}, 2 CPUs (shared)", "parts": args.parts,
                 "rows": n, "float32": {**quality.base, "bytes": base_bytes, **info},
                 "similarity_sets": sorted(quality.sims), "qat": [], "ptq": [], "targets": []}
    x = kv.table.to_dense().weights
    ptq = {"bit1": Bit1Table.from_dense(x), "bit1 rotation": Bit1Table.from_dense(x, rotation=True),
           "bit2": Bit2Table.from_dense(x), "bit2 rotation": Bit2Table.from_dense(x, rotation=True)}
    for name, t in ptq.items():
        res["ptq"].append(row(f"post-training {name} (float32 d=100)", t, vocab, quality,
                              base_bytes))
    save(res)
    models = {}
    for spec in args.runs:
        bits, dim, *more = spec.split(":")  # bits:dim[:wK (K float epochs)][:eN (N epochs)]
        bits, dim = int(bits), int(dim)
        opts = {m[0]: int(m[1:]) for m in more}
        warm_epochs, epochs = opts.get("w", 0), opts.get("e", 2)
        w = qat_weights(bits, dim, args.parts, list(vocab.keys), warm_epochs, epochs)
        label = f"QAT {bits}-bit d={dim}" + (f", {warm_epochs} float32 epoch" if warm_epochs
                                             else "") + (f", {epochs} epochs" if epochs != 2
                                                         else "")
        variant = bool(warm_epochs) or epochs != 2  # not the equal-settings run
        models[(bits, dim)] = w
        for vectors, weights in (("sum", w["input"] + w["output"]), ("input", w["input"])):
            res["qat"].append(row(f"{label} ({vectors})", qat_table(weights, bits), vocab,
                                  quality, base_bytes, bits=bits, dim=dim, vectors=vectors,
                                  float_epochs=warm_epochs, epochs=epochs,
                                  train_seconds=w.get("train_seconds")))
        if dim == 100 and not variant:  # equal bytes: bit2 head + 1-bit PCA-24 tail
            budget = qat_table(w["input"], bits).nbytes
            t = tiered_at(Bit2Table.from_dense, lambda m: Bit1Table.from_dense(
                m, rotation="pca", n_components=24), x, x, budget)
            res["ptq"].append(row(f"post-training tiered bit2 + pca24 at QAT {bits}-bit bytes "
                                  f"(head {t.n_head})", t, vocab, quality, base_bytes))
        if (bits, dim) == (1, 100):  # 32x, 100x: fewer columns
            s = w["input"] + w["output"]
            for cols in (96, 32):
                res["targets"].append(row(
                    f"{label}, first {cols} columns kept (sum)", qat_table(s[:, :cols], 1),
                    vocab, quality, base_bytes, target="32x" if cols == 96 else "100x"))
            res["targets"] += hundredfold(w, x, vocab, quality, base_bytes, label,
                                          baseline=not variant)
        if bits == 2 and dim == 100:  # tiered: QAT 2-bit head, 1-bit PCA tail of its shadow
            s = w["input"] + w["output"]
            for ratio, comps in ((32, 24), (100, 8)):
                t = tiered_at(lambda m: qat_table(m, 2), lambda m, c=comps: Bit1Table.from_dense(
                    m, rotation="pca", n_components=c), s, s, base_bytes // ratio)
                res["targets"].append(row(
                    f"{label}: tiered, QAT 2-bit head {t.n_head} + pca{comps} 1-bit tail of "
                    "QAT shadow", t, vocab, quality, base_bytes, target=f"{ratio}x"))
        save(res)  # after each run: a partial result survives an interrupted bench
    save(res)
    log("wrote bench/results/qat.json and qat.md")


def markdown(res: dict) -> str:
    base = res["float32"]
    out = ["# Quantisation-aware word2vec (Word2Bits) vs post-training quantisation (issue 15)",
           "", f"Skip-gram, 2 epochs, Gutenberg parts {res['parts']}, {res['rows']:,} words; "
           f"float32 d=100: {base['bytes']:,} bytes, analogy {base['analogy']:.3f}, "
           "Spearman " + ", ".join(f"{k} {v:.3f}" for k, v in base["spearman"].items()) + ".",
           "Ratios against float32 d=100; rel. Spearman = mean over the sets of Spearman / "
           f"float32's. Machine: {res['machine']}.", "",
           "| setting | bytes | ratio | rel. Spearman | analogy | "
           + " | ".join(res["similarity_sets"]) + " |",
           "|---|---|---|---|---|" + "---|" * len(res["similarity_sets"])]
    for r in res["ptq"] + res["qat"] + res["targets"]:
        out.append(f"| {r['setting']} | {r['bytes']:,} | {r['ratio']:.1f}x | "
                   f"{r['rel_spearman']:.3f} | {r.get('analogy', float('nan')):.3f} | "
                   + " | ".join(f"{r['spearman'][k]:.3f}" for k in res["similarity_sets"])
                   + " |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
