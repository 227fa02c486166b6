"""compactemb's TextClassifier against fastText (PyPI ``fasttext``) on SST-2, in the same run.

    python bench/classify/run.py [--repeats 3] [--quick]

Equal settings for both: dim 100, 5 epochs, learning rate 0.1, word bigrams, 2,000,000 buckets,
min count 1, softmax, 2 threads (fastText's supervised defaults plus ``-wordNgrams 2``), and the
examples visited in file order, each thread over its own part (fastText's way; our default
``shuffle=True`` is run too and reported on its own line). Both
train from their file (our TSV reader, fastText's ``__label__`` file made from the same TSV)
and are timed end to end; our numba kernels are compiled (or loaded from the cache) by one small
fit before the timed runs, and that first fit's time is reported too. Accuracy is on the 1,821
labelled SST-2 test sentences (and the 872 dev sentences), mean over ``--repeats`` seeds.

Then the small classifiers: ours (rows pruned by norm or by usage, optional retraining, stored
as float16/int8/int4/PQ) and fastText's ``quantize`` (``-cutoff``, ``-retrain``, ``-qnorm``,
``-dsub 2``), each with its bytes and accuracy. Writes bench/results/classify.json and .md.
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

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("COMPACTEMB_SHARED_DATA", ROOT.parent / "shared" / "data")) / "sst2"
RESULTS = ROOT / "bench" / "results"
SETTINGS = {"dim": 100, "epochs": 5, "lr": 0.1, "word_ngrams": 2, "buckets": 2_000_000,
            "min_count": 1, "loss": "softmax", "threads": 2}

# (label, method, cutoff, score, retrain, table options)
OURS_SMALL = [
    ("float16", "float16", None, "norm", False, {}),
    ("int8", "int8", None, "norm", False, {}),
    ("int4", "int4", None, "norm", False, {}),
    ("norm cutoff 10k + int8 + retrain (FastText.zip-like)", "int8", 10000, "norm", True, {}),
    ("norm cutoff 5k + int4 + retrain", "int4", 5000, "norm", True, {}),
    ("usage cutoff 20k + int4 + retrain", "int4", 20000, "usage", True, {}),
    ("usage cutoff 5k + int4 + retrain", "int4", 5000, "usage", True, {}),
    ("usage cutoff 20k + int4 + hashed words + retrain", "int4", 20000, "usage", True,
     {"hash_words": True}),
    ("usage cutoff 20k + PQ M=10 + hashed words + retrain", "pq", 20000, "usage", True,
     {"n_subvectors": 10, "hash_words": True}),
    ("usage cutoff 24k + PQ M=10 K=64 + hashed words + retrain", "pq", 24000, "usage", True,
     {"n_subvectors": 10, "n_centroids": 64, "hash_words": True}),
]
FASTTEXT_CUTOFFS = [10000, 5000]


def to_fasttext(src: Path, dst: Path) -> None:
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
        next(f)
        for line in f:
            label, text = line.rstrip("\r\n").split("\t", 1)
            out.write(f"__label__{label} {text}\n")


def train_fasttext(train_txt: Path, seed: int):
    import fasttext

    s = SETTINGS
    t0 = time.perf_counter()
    model = fasttext.train_supervised(
        input=str(train_txt), dim=s["dim"], epoch=s["epochs"], lr=s["lr"],
        wordNgrams=s["word_ngrams"], bucket=s["buckets"], minCount=s["min_count"],
        loss=s["loss"], thread=s["threads"], seed=seed, verbose=0)
    return model, time.perf_counter() - t0


def train_ours(seed: int, shuffle: bool = False):
    from compactemb.train._classifier import TextClassifier

    s = SETTINGS
    t0 = time.perf_counter()
    model = TextClassifier(dim=s["dim"], ngrams=s["word_ngrams"], n_buckets=s["buckets"],
                           epochs=s["epochs"], learning_rate=s["lr"], min_count=s["min_count"],
                           loss=s["loss"], n_threads=s["threads"], shuffle=shuffle,
                           random_state=seed)
    model.fit_file(DATA / "train.tsv")
    return model, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="one repeat, fewer small models")
    args = ap.parse_args()
    repeats = 1 if args.quick else args.repeats

    import fasttext  # noqa: F401 - fail early when the peer is missing

    from compactemb._progress import set_quiet
    from compactemb.labelled import read_labelled
    from compactemb.train import TextClassifier

    set_quiet(True)
    tmp = Path(tempfile.mkdtemp(prefix="bench-classify-"))
    for name in ("train", "dev", "test"):
        to_fasttext(DATA / f"{name}.tsv", tmp / f"{name}.txt")
    train = read_labelled(DATA / "train.tsv")
    test = read_labelled(DATA / "test.tsv")
    dev = read_labelled(DATA / "dev.tsv")

    t0 = time.perf_counter()  # compile the kernels, or load them from numba's cache
    TextClassifier(dim=8, n_buckets=1000, epochs=1).fit(train[0][:2000], train[1][:2000]) \
        .predict(test[0][:10])
    first_fit_s = time.perf_counter() - t0

    runs = {"ours": [], "fasttext": [], "ours_shuffled": []}
    kept = {}
    for seed in range(repeats):
        ft, ft_s = train_fasttext(tmp / "train.txt", seed + 1)
        ft.save_model(str(tmp / "ft.bin"))
        runs["fasttext"].append({
            "seed": seed + 1, "train_seconds": ft_s,
            "test_accuracy": ft.test(str(tmp / "test.txt"))[1],
            "dev_accuracy": ft.test(str(tmp / "dev.txt"))[1],
            "model_file_bytes": os.path.getsize(tmp / "ft.bin"),
            "words": len(ft.words)})
        del ft
        ours, ours_s = train_ours(seed)
        ours.save(tmp / "ours.cemb")
        runs["ours"].append({
            "seed": seed, "train_seconds": ours_s,
            "test_accuracy": ours.evaluate(*test)["accuracy"],
            "test_macro_f1": ours.evaluate(*test)["macro_f1"],
            "dev_accuracy": ours.evaluate(*dev)["accuracy"],
            "model_bytes": ours.nbytes, "model_file_bytes": os.path.getsize(tmp / "ours.cemb"),
            "words": len(ours.vocab_), "ngram_rows": int(ours.bucket_ids_.shape[0]),
            "fasttext_form_float32_bytes": ours.fasttext_form_nbytes()})
        if seed == 0:
            kept["ours"] = ours
        del ours
        shuffled, sh_s = train_ours(seed, shuffle=True)
        runs["ours_shuffled"].append({
            "seed": seed, "train_seconds": sh_s,
            "test_accuracy": shuffled.evaluate(*test)["accuracy"],
            "dev_accuracy": shuffled.evaluate(*dev)["accuracy"],
            "model_file_bytes": runs["ours"][-1]["model_file_bytes"]})
        del shuffled
        print(f"seed {seed}: ours {ours_s:.2f} s acc {runs['ours'][-1]['test_accuracy']:.4f} | "
              f"fastText {ft_s:.2f} s acc {runs['fasttext'][-1]['test_accuracy']:.4f}",
              flush=True)

    def mean(who, key):
        return statistics.fmean(r[key] for r in runs[who])

    summary = {who: {k: mean(who, k) for k in ("train_seconds", "test_accuracy",
                                                 "dev_accuracy", "model_file_bytes")}
               for who in runs}
    for who in runs:
        summary[who]["test_accuracy_stdev"] = statistics.pstdev(
            r["test_accuracy"] for r in runs[who])
    summary["ratios"] = {
        "train_time_ours_over_fasttext": summary["ours"]["train_seconds"]
        / summary["fasttext"]["train_seconds"],
        "test_accuracy_points_ours_minus_fasttext": 100 * (
            summary["ours"]["test_accuracy"] - summary["fasttext"]["test_accuracy"]),
        "model_file_bytes_ours_over_fasttext": summary["ours"]["model_file_bytes"]
        / summary["fasttext"]["model_file_bytes"]}

    # -- small classifiers ---------------------------------------------------------------------
    base = kept["ours"]
    base_acc = runs["ours"][0]["test_accuracy"]
    base_bytes = base.nbytes
    form_bytes = runs["ours"][0]["fasttext_form_float32_bytes"] + base.output_.nbytes
    small_rows = []
    for label, method, cutoff, score, retrain, opts in (OURS_SMALL[:2] + OURS_SMALL[-2:-1]
                                                         if args.quick else OURS_SMALL):
        t0 = time.perf_counter()
        small = base.compress(method, cutoff=cutoff, score=score, retrain=retrain,
                              texts=train[0], labels=train[1], **opts)
        secs = time.perf_counter() - t0
        small.save(tmp / "small.cemb")
        acc = small.evaluate(*test)["accuracy"]
        small_rows.append({
            "who": "ours", "setting": label, "seconds": secs, "test_accuracy": acc,
            "accuracy_lost_points": 100 * (base_acc - acc), "bytes": small.nbytes,
            "file_bytes": os.path.getsize(tmp / "small.cemb"),
            "x_smaller_than_own_float32": base_bytes / small.nbytes,
            "x_smaller_than_fasttext_form_float32": form_bytes / small.nbytes})
        print(f"ours {label}: {acc:.4f}, {small.nbytes:,} B", flush=True)
    for cutoff in FASTTEXT_CUTOFFS[:1] if args.quick else FASTTEXT_CUTOFFS:
        ft, _ = train_fasttext(tmp / "train.txt", 1)
        ft_acc = ft.test(str(tmp / "test.txt"))[1]
        ft.save_model(str(tmp / "ft.bin"))
        ft_bytes = os.path.getsize(tmp / "ft.bin")
        t0 = time.perf_counter()
        ft.quantize(input=str(tmp / "train.txt"), qnorm=True, retrain=True, cutoff=cutoff,
                    dsub=2, thread=SETTINGS["threads"], verbose=0)
        secs = time.perf_counter() - t0
        ft.save_model(str(tmp / "ft.ftz"))
        acc = ft.test(str(tmp / "test.txt"))[1]
        size = os.path.getsize(tmp / "ft.ftz")
        small_rows.append({
            "who": "fasttext", "setting": f"quantize -cutoff {cutoff} -retrain -qnorm -dsub 2",
            "seconds": secs, "test_accuracy": acc,
            "accuracy_lost_points": 100 * (ft_acc - acc), "bytes": size, "file_bytes": size,
            "x_smaller_than_own_float32": ft_bytes / size,
            "x_smaller_than_fasttext_form_float32": ft_bytes / size})
        print(f"fastText cutoff {cutoff}: {acc:.4f}, {size:,} B", flush=True)

    hits = [r for r in small_rows if r["who"] == "ours" and r["accuracy_lost_points"] <= 1.0]
    targets = {
        "accuracy_within_0.5_points": summary["ratios"][
            "test_accuracy_points_ours_minus_fasttext"] >= -0.5,
        "train_time_at_most_fasttext": summary["ratios"]["train_time_ours_over_fasttext"] <= 1.0,
        "100x_smaller_than_own_float32_within_1_point": any(
            r["x_smaller_than_own_float32"] >= 100 for r in hits),
        "100x_smaller_than_fasttext_form_float32_within_1_point": any(
            r["x_smaller_than_fasttext_form_float32"] >= 100 for r in hits),
    }
    result = {
        "benchmark": "SST-2 text classification, compactemb TextClassifier vs fastText",
        "settings": SETTINGS, "repeats": repeats,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "python": sys.version.split()[0],
                    "note": "2-core machine shared with other engineers' jobs; compare the "
                            "ratios, measured in the same run"},
        "first_fit_including_compile_seconds": first_fit_s,
        "runs": runs, "summary": summary, "small": small_rows, "targets": targets,
    }
    from compactemb.storage import atomic_write, write_json

    RESULTS.mkdir(parents=True, exist_ok=True)
    write_json(RESULTS / "classify.json", result)
    with atomic_write(RESULTS / "classify.md", "w", encoding="utf-8") as f:
        f.write(markdown(result))
    print(markdown(result))


def markdown(r: dict) -> str:
    s, ratios = r["summary"], r["summary"]["ratios"]
    lines = [
        "# SST-2: compactemb TextClassifier vs fastText", "",
        f"Settings (both): {r['settings']}; {r['repeats']} seeds each, means. "
        f"{r['machine']['note']}. Our first fit (kernel compile or cache load, 2,000 examples): "
        f"{r['first_fit_including_compile_seconds']:.2f} s.", "",
        "| | train time (s) | test accuracy | dev accuracy | model file (bytes) |",
        "|---|---|---|---|---|",
    ]
    names = {"ours": "ours (examples in file order, as fastText)", "fasttext": "fastText",
             "ours_shuffled": "ours, shuffle=True (library default)"}
    for who in ("ours", "fasttext", "ours_shuffled"):
        v = s[who]
        lines.append(f"| {names[who]} | {v['train_seconds']:.2f} | {v['test_accuracy']:.4f} "
                     f"(sd {v['test_accuracy_stdev']:.4f}) | "
                     f"{v['dev_accuracy']:.4f} | {v['model_file_bytes']:,.0f} |")
    lines += ["", "Ratios: train time ours/fastText "
              f"**{ratios['train_time_ours_over_fasttext']:.2f}**, test accuracy ours - fastText **"
              f"{ratios['test_accuracy_points_ours_minus_fasttext']:+.2f} points**, model file "
              f"ours/fastText **{ratios['model_file_bytes_ours_over_fasttext']:.3f}**.", "",
              "## Small classifiers", "",
              "| who | setting | test accuracy | points lost | bytes | x smaller than own "
              "float32 | x smaller than fastText-form float32 | seconds |",
              "|---|---|---|---|---|---|---|---|"]
    for x in r["small"]:
        lines.append(f"| {x['who']} | {x['setting']} | {x['test_accuracy']:.4f} | "
                     f"{x['accuracy_lost_points']:+.2f} | {x['bytes']:,} | "
                     f"{x['x_smaller_than_own_float32']:.1f} | "
                     f"{x['x_smaller_than_fasttext_form_float32']:.1f} | {x['seconds']:.1f} |")
    lines += ["", "Own float32: our model as trained (words + the n-gram buckets that occur, "
              "float32; fastText's .bin for fastText). fastText-form float32: the (words + 2M "
              "buckets) x dim float32 matrix that fastText allocates.", "", "## Targets", ""]
    lines += [f"- {k}: {'met' if v else 'missed'}" for k, v in r["targets"].items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
