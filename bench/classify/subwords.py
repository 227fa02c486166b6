"""Char n-grams, quantisation-aware training and per-epoch kernel calls of TextClassifier, SST-2.

    python bench/classify/subwords.py [--repeats 3]

1. Char n-grams (``minn/maxn``) against fastText supervised with the same ``-minn/-maxn`` in
   the same run: dim 100, 5 epochs, lr 0.1, word bigrams, 2M buckets, min count 1, softmax,
   2 threads, examples in file order (fastText's way); test/dev accuracy, training seconds
   (from texts in memory for ours, from the file for fastText), model bytes.
2. Quantisation-aware training (``bits=1|2|4``) against post-training quantisation of the
   float model at equal bytes: the same stored format (``qat_table`` of the float rows), the
   library's ``compress`` of the same kind (bit1/bit2: per-dimension scales, centred), and
   ``compress(..., retrain=True)`` (fine-tune, quantise, refit the output layer).
3. The cost of running each epoch as its own kernel call (so a callback can stop training):
   the SGD phase alone, all epochs in one call per thread against one call per epoch.

Writes bench/results/classify_subwords.json and .md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("COMPACTEMB_SHARED_DATA", ROOT.parent / "shared" / "data")) / "sst2"
RESULTS = ROOT / "bench" / "results"
SETTINGS = {"dim": 100, "epochs": 5, "lr": 0.1, "word_ngrams": 2, "buckets": 2_000_000,
            "min_count": 1, "loss": "softmax", "threads": 2}
CHAR_NGRAMS = [(0, 0), (3, 6), (2, 4)]
SECTIONS = ("epoch_split", "char_ngrams", "qat", "qat_dim10")
QAT_SMALL_DIM = 10


def to_fasttext(texts, labels, dst: Path) -> None:
    with open(dst, "w", encoding="utf-8") as out:
        for t, labs in zip(texts, labels):
            out.write(" ".join(f"__label__{x}" for x in labs) + f" {t}\n")


def ours(seed, minn=0, maxn=0, bits=None, **kw):
    from compactemb.train import TextClassifier

    s = SETTINGS
    kw.setdefault("dim", s["dim"])
    return TextClassifier(ngrams=s["word_ngrams"], n_buckets=s["buckets"],
                          epochs=s["epochs"], learning_rate=s["lr"], min_count=s["min_count"],
                          loss=s["loss"], n_threads=s["threads"], shuffle=False,
                          random_state=seed, minn=minn, maxn=maxn, bits=bits, **kw)


def char_ngram_runs(train, test, dev, tmp, repeats):
    import fasttext

    rows = []
    for minn, maxn in CHAR_NGRAMS:
        for seed in range(repeats):
            s = SETTINGS
            t0 = time.perf_counter()
            ft = fasttext.train_supervised(
                input=str(tmp / "train.txt"), dim=s["dim"], epoch=s["epochs"], lr=s["lr"],
                wordNgrams=s["word_ngrams"], bucket=s["buckets"], minCount=s["min_count"],
                loss=s["loss"], thread=s["threads"], seed=seed + 1, minn=minn, maxn=maxn,
                verbose=0)
            ft_s = time.perf_counter() - t0
            n_rows = len(ft.words) + (s["buckets"] if maxn > 0 or s["word_ngrams"] > 1 else 0)
            rows.append({"who": "fasttext", "minn": minn, "maxn": maxn, "seed": seed + 1,
                         "train_seconds": ft_s,
                         "test_accuracy": ft.test(str(tmp / "test.txt"))[1],
                         "dev_accuracy": ft.test(str(tmp / "dev.txt"))[1],
                         "model_bytes": (n_rows + len(ft.labels)) * s["dim"] * 4})
            del ft
            t0 = time.perf_counter()
            model = ours(seed, minn, maxn).fit(*train)
            secs = time.perf_counter() - t0
            rows.append({"who": "ours", "minn": minn, "maxn": maxn, "seed": seed,
                         "train_seconds": secs,
                         "test_accuracy": model.evaluate(*test)["accuracy"],
                         "dev_accuracy": model.evaluate(*dev)["accuracy"],
                         "model_bytes": model.nbytes,
                         "ngram_rows": int(model.bucket_ids_.shape[0])})
            print(f"minn {minn} maxn {maxn} seed {seed}: fastText {rows[-2]['test_accuracy']:.4f}"
                  f" {ft_s:.1f} s | ours {rows[-1]['test_accuracy']:.4f} {secs:.1f} s",
                  flush=True)
    return rows


def qat_runs(train, test, repeats, dim=None, ptq_compress=True):
    from compactemb.train._classifier import qat_table

    rows = []
    extra = {} if dim is None else {"dim": dim}
    for seed in range(repeats):
        base = ours(seed, **extra).fit(*train)
        base_acc = base.evaluate(*test)["accuracy"]
        rows.append({"seed": seed, "bits": 32, "how": "float32", "test_accuracy": base_acc,
                     "table_bytes": base.table_.nbytes, "model_bytes": base.nbytes})
        for bits in (1, 2, 4):
            t0 = time.perf_counter()
            q = ours(seed, bits=bits, **extra).fit(*train)
            secs = time.perf_counter() - t0
            rows.append({"seed": seed, "bits": bits, "how": "QAT", "seconds": secs,
                         "test_accuracy": q.evaluate(*test)["accuracy"],
                         "table_bytes": q.table_.nbytes, "model_bytes": q.nbytes})
            same = ours(seed, bits=bits, **extra)  # the float model, QAT's table format
            for name in ("vocab_", "word_hashes_", "labels_", "bucket_ids_", "row_counts_",
                         "missing_ngrams_", "output_", "train_info_"):
                setattr(same, name, getattr(base, name))
            same.table_ = qat_table(base.table_.weights, bits)
            rows.append({"seed": seed, "bits": bits, "how": "PTQ, same format",
                         "test_accuracy": same.evaluate(*test)["accuracy"],
                         "table_bytes": same.table_.nbytes, "model_bytes": same.nbytes})
            kind = {1: "bit1", 2: "bit2", 4: "int4"}[bits]
            for retrain in (False, True) if ptq_compress else ():
                small = base.compress(kind, retrain=retrain, texts=train[0], labels=train[1])
                rows.append({"seed": seed, "bits": bits,
                             "how": f"PTQ, compress {kind}" + (" + retrain" if retrain else ""),
                             "test_accuracy": small.evaluate(*test)["accuracy"],
                             "table_bytes": small.table_.nbytes, "model_bytes": small.nbytes})
            print(f"seed {seed} bits {bits}: " + ", ".join(
                f"{r['how']} {r['test_accuracy']:.4f}" for r in rows[-4:] if r["bits"] == bits),
                flush=True)
    return rows


def epoch_split_runs(train, repeats):
    """SGD phase only: the old way (every epoch in one kernel call per thread) against the
    current one (a call per epoch, threads meeting between epochs)."""
    from compactemb._native import kernels
    from compactemb._threads import run_hogwild
    from compactemb.train._classifier import LOSSES, _as_label_lists, _label_arrays

    texts, labels = train
    # one epoch (the callback stops it) fixes the rows; then the training set's encoding
    model = ours(0).fit(texts, labels, callback=lambda epoch, info: False)
    flat, lens = model._tokens(texts)
    ids, offsets, _ = model._encode_tokens(flat, lens)
    lab_ids, lab_offsets = _label_arrays(model.labels_, _as_label_lists(labels, len(texts)))
    weights = lens.astype(np.float64)
    train_range = kernels("compactemb.train._classifier_kernels").train_range
    n = offsets.shape[0] - 1
    epochs, threads = SETTINGS["epochs"], SETTINGS["threads"]

    def one_call():
        w_in = np.random.default_rng(0).uniform(-0.01, 0.01, (model.n_rows, SETTINGS["dim"])) \
            .astype(np.float32)
        w_out = np.zeros((len(model.labels_), SETTINGS["dim"]), np.float32)
        parts = np.array_split(np.arange(n, dtype=np.int64), threads)
        done = np.zeros(threads, np.int64)
        t0, c0 = time.perf_counter(), time.process_time()
        run_hogwild(lambda t: train_range(w_in, w_out, ids, offsets, lab_ids, lab_offsets,
                                          weights, parts[t], epochs, SETTINGS["lr"],
                                          LOSSES["softmax"], 1 + t, done, t, True, False),
                    threads, on_tick=lambda: None)
        return time.perf_counter() - t0, time.process_time() - c0

    def per_epoch():
        w_in = np.random.default_rng(0).uniform(-0.01, 0.01, (model.n_rows, SETTINGS["dim"])) \
            .astype(np.float32)
        w_out = np.zeros((len(model.labels_), SETTINGS["dim"]), np.float32)
        t0, c0 = time.perf_counter(), time.process_time()
        model._run_sgd(w_in, w_out, ids, offsets, lab_ids, lab_offsets, weights,
                       epochs=epochs, lr=SETTINGS["lr"], update_input=True, seed=1,
                       notify=lambda e, info: False)
        return time.perf_counter() - t0, time.process_time() - c0

    one_call()
    per_epoch()
    times = {"one_call": [], "per_epoch": []}
    cpu = {"one_call": [], "per_epoch": []}
    for _ in range(max(repeats, 3) * 2):  # interleaved
        for name, run in (("one_call", one_call), ("per_epoch", per_epoch)):
            wall, used = run()
            times[name].append(wall)
            cpu[name].append(used)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    return {"seconds": times, "cpu_seconds": cpu, "median": med, "median_cpu": med_cpu,
            "overhead_ratio": med["per_epoch"] / med["one_call"],
            "overhead_ratio_cpu": med_cpu["per_epoch"] / med_cpu["one_call"]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--limit", type=int, help="only the first N training sentences (a try-out)")
    ap.add_argument("--only", nargs="+", choices=SECTIONS,
                    help="run these sections; the others are kept from the last results file")
    args = ap.parse_args()

    from compactemb._progress import set_quiet
    from compactemb.labelled import read_labelled

    set_quiet(True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-classify-subwords-"))
    train = read_labelled(DATA / "train.tsv")
    if args.limit:
        train = (train[0][:args.limit], train[1][:args.limit])
    test = read_labelled(DATA / "test.tsv")
    dev = read_labelled(DATA / "dev.tsv")
    for name, data in (("train", train), ("test", test), ("dev", dev)):
        to_fasttext(*data, tmp / f"{name}.txt")
    ours(0).fit(train[0][:2000], train[1][:2000])  # compile or load the kernels first

    t_start = time.perf_counter()
    only = set(args.only or SECTIONS)
    old = {}
    if args.only and (RESULTS / "classify_subwords.json").exists():
        import json

        old = json.loads((RESULTS / "classify_subwords.json").read_text(encoding="utf-8"))

    def agg(rows, keys, values):
        out = []
        for key in dict.fromkeys(tuple(r[k] for k in keys) for r in rows):
            group = [r for r in rows if tuple(r[k] for k in keys) == key]
            item = dict(zip(keys, key))
            for v in values:
                vals = [r[v] for r in group if v in r]
                if vals:
                    item[v] = statistics.fmean(vals)
                    if v == "test_accuracy":
                        item["test_accuracy_sd"] = statistics.pstdev(vals)
            out.append(item)
        return out

    def qat_section(rows):
        return {"runs": rows, "summary": agg(rows, ("bits", "how"), (
            "test_accuracy", "table_bytes", "model_bytes", "seconds"))}

    result = {
        "benchmark": "SST-2: TextClassifier char n-grams and quantisation-aware training",
        "settings": SETTINGS, "repeats": args.repeats,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": sys.version.split()[0],
                    "note": "2-core machine shared with other engineers' jobs; compare the "
                            "ratios, measured in the same run"},
    }
    result.update({k: old[k] for k in SECTIONS if k in old and k not in only})
    if "epoch_split" in only:
        result["epoch_split"] = epoch_split_runs(train, args.repeats)
        print(f"epoch split: {result['epoch_split']['overhead_ratio']:.3f}x", flush=True)
    if "char_ngrams" in only:
        char_rows = char_ngram_runs(train, test, dev, tmp, args.repeats)
        result["char_ngrams"] = {"runs": char_rows, "summary": agg(
            char_rows, ("who", "minn", "maxn"),
            ("train_seconds", "test_accuracy", "dev_accuracy", "model_bytes", "ngram_rows"))}
    if "qat" in only:
        result["qat"] = qat_section(qat_runs(train, test, args.repeats))
    if "qat_dim10" in only:
        result["qat_dim10"] = qat_section(qat_runs(train, test, args.repeats,
                                                   dim=QAT_SMALL_DIM, ptq_compress=False))
    result["seconds"] = time.perf_counter() - t_start
    from compactemb.storage import atomic_write, write_json

    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / "classify_subwords.json", result)
    with atomic_write(RESULTS / "classify_subwords.md", "w", encoding="utf-8") as f:
        f.write(markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    lines = ["# SST-2: TextClassifier char n-grams, quantisation-aware training", "",
             f"Settings: {r['settings']}, examples in file order; {r['repeats']} seeds each, "
             f"means. {r['machine']['note']}.", "",
             "## Char n-grams against fastText supervised (same -minn/-maxn, same run)", "",
             "| who | minn..maxn | test accuracy (sd) | dev accuracy | train s | model bytes "
             "| n-gram rows |", "|---|---|---|---|---|---|---|"]
    for x in r["char_ngrams"]["summary"]:
        grams = f"{x['minn']}..{x['maxn']}" if x["maxn"] else "none"
        lines.append(f"| {x['who']} | {grams} | {x['test_accuracy']:.4f} "
                     f"({x['test_accuracy_sd']:.4f}) | {x['dev_accuracy']:.4f} | "
                     f"{x['train_seconds']:.2f} | {x['model_bytes']:,.0f} | "
                     f"{x.get('ngram_rows', float('nan')):,.0f} |")
    lines += ["", "Model bytes: ours = every stored array (words and the buckets that occur in "
              "training); fastText = its float32 input (words + all buckets) and output "
              "matrices, computed. Ours trains from texts in memory, fastText from its file.",
              "", "## Quantisation-aware training (QAT) against post-training quantisation "
              "(PTQ) at equal bytes", "",
              "| bits | how | test accuracy (sd) | input table bytes | model bytes |",
              "|---|---|---|---|---|"]
    for x in r["qat"]["summary"]:
        lines.append(f"| {x['bits']} | {x['how']} | {x['test_accuracy']:.4f} "
                     f"({x['test_accuracy_sd']:.4f}) | {x['table_bytes']:,.0f} | "
                     f"{x['model_bytes']:,.0f} |")
    if "qat_dim10" in r:
        lines += ["", f"The same at dim {QAT_SMALL_DIM} (fewer values a row: coarser codes):",
                  "", "| bits | how | test accuracy (sd) | input table bytes | model bytes |",
                  "|---|---|---|---|---|"]
        for x in r["qat_dim10"]["summary"]:
            lines.append(f"| {x['bits']} | {x['how']} | {x['test_accuracy']:.4f} "
                         f"({x['test_accuracy_sd']:.4f}) | {x['table_bytes']:,.0f} | "
                         f"{x['model_bytes']:,.0f} |")
    s = r["epoch_split"]
    lines += ["", "PTQ, same format: the float model's rows stored exactly as QAT stores its "
              "rows (1/2 bits: codes + a float16 scale a row; 4: row-wise int4). compress "
              "bit1/bit2: the table kinds' defaults (centred, a float32 scale a dimension, no "
              "row scale: 2 bytes a row fewer). + retrain: fine-tune, quantise, refit the "
              "output layer.", "",
              "## Epochs as separate kernel calls", "",
              f"SGD phase only (5 epochs, 2 threads, medians of {len(s['seconds']['one_call'])} "
              f"interleaved runs): one call for all epochs {s['median']['one_call']:.3f} s, "
              f"one call per epoch {s['median']['per_epoch']:.3f} s: "
              f"**{s['overhead_ratio']:.3f}x**"
              + (f"; CPU seconds of the process {s['median_cpu']['one_call']:.3f} against "
                 f"{s['median_cpu']['per_epoch']:.3f}: **{s['overhead_ratio_cpu']:.3f}x**"
                 if "median_cpu" in s else "") + ".", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
