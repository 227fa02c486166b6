"""Commands: train/eval classifier, predict, quantize (a small classifier), cluster, plot."""

from __future__ import annotations

import os
import sys

from ..exceptions import InputError
from . import common, deprecated_alias, emit, load_object
from ._core import check_positive, load_vectors

_SMALL_METHODS = ["float32", "float16", "int8", "int4", "pq"]


def _reading_options(p) -> None:
    g = p.add_argument_group("reading labelled files")
    g.add_argument("--format", default="auto", choices=["auto", "fasttext", "csv", "tsv"],
                   help="auto: .csv/.tsv by extension, else fastText '__label__X text' lines")
    g.add_argument("--text-column", help="CSV/TSV text column (header name or 0-based index)")
    g.add_argument("--label-column", help="CSV/TSV label column (header name or index)")
    g.add_argument("--label-sep", help="CSV/TSV: split the label cell on this (multi-label)")
    g.add_argument("--skip-unlabelled", action="store_true",
                   help="skip rows without a label instead of stopping with an error")


def _read(args, path):
    from ..labelled import read_labelled

    return read_labelled(path, format=args.format, text_column=args.text_column,
                         label_column=args.label_column, label_sep=args.label_sep,
                         unlabelled="skip" if args.skip_unlabelled else "error")


def _small_options(p) -> None:
    from ._compress import keep_value

    p.add_argument("--keep", dest="cutoff", type=keep_value, metavar="N",
                   help="keep the N input rows (words and n-grams) of highest score, a count "
                   "or a fraction (< 1) (fastText's -cutoff; same as compress --method "
                   "pruned+METHOD --keep N)")
    deprecated_alias(p, "--cutoff", "--keep")
    p.add_argument("--score", choices=["usage", "norm"],
                   help="rank rows for --keep by norm x sqrt(use in training) ('usage', the "
                   "default when the model has its row counts) or by norm (fastText)")
    p.add_argument("--n-subvectors", type=int,
                   help="pq: sub-vectors (bytes per row; default dim/2, fastText's -dsub 2)")
    p.add_argument("--hash-words", action="store_true",
                   help="store the kept words as 32-bit hashes (4 B a word instead of ~24)")
    p.add_argument("--retrain", action="store_true",
                   help="fine-tune after pruning and refit the output layer after quantising")


def register(commands, families) -> None:
    p = families["train"].add_parser(
        "classifier", help="fastText-style text classifier (bag of words + word/char n-grams)",
        description="Train a supervised text classifier on fastText '__label__X text' lines or "
        "a CSV/TSV file with text and label columns.")
    p.add_argument("train", metavar="TRAIN")
    p.add_argument("-o", "--out", required=True, help="output file (.cemb)")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--ngrams", type=int, default=2, help="longest word n-gram (default 2)")
    p.add_argument("--buckets", type=int, default=2_000_000, help="n-gram hash buckets")
    p.add_argument("--minn", type=int, default=0,
                   help="shortest char n-gram of each word (fastText's -minn; default 0)")
    p.add_argument("--maxn", type=int, default=0,
                   help="longest char n-gram (default 0: none; fastText uses 3..6)")
    p.add_argument("--bits", type=int, choices=[1, 2, 4],
                   help="quantisation-aware training: input table stored at 1, 2 or 4 bits")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--learning-rate", type=float, default=0.1,
                   help="learning rate (default 0.1)")
    deprecated_alias(p, "--lr", "--learning-rate")
    p.add_argument("--min-count", type=int, default=1)
    p.add_argument("--loss", choices=["softmax", "ova"], default="softmax",
                   help="ova: one-vs-all sigmoids for multi-label data")
    p.add_argument("--threads", type=int, help="Hogwild threads (default: CPUs)")
    p.add_argument("--seed", type=int, default=0, help="random seed (random_state)")
    p.add_argument("--token-pattern", default=r"\S+",
                   help=r"regex of a token (default \S+: whitespace-separated, as fastText)")
    p.add_argument("--lowercase", action="store_true", help="lowercase texts first")
    p.add_argument("--compress", choices=_SMALL_METHODS, help="save a compressed model")
    _small_options(p)
    p.add_argument("--test", help="also evaluate on this labelled file")
    _reading_options(p)
    common(p)
    p.set_defaults(func=cmd_train_classifier)

    p = families["eval"].add_parser("classifier", help="accuracy, macro F1, P@k/R@k")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("test", metavar="TEST")
    p.add_argument("-k", type=int, default=1, help="P@k and R@k cut-off (default 1)")
    p.add_argument("--per-class", action="store_true", help="include per-class scores")
    _reading_options(p)
    common(p)
    p.set_defaults(func=cmd_eval_classifier)

    p = commands.add_parser("predict", help="labels of texts by a trained classifier")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("texts", nargs="+", metavar="TEXT", help="texts; '-' reads lines from stdin")
    p.add_argument("-k", type=int, default=1, help="labels per text (default 1)")
    p.add_argument("--threshold", type=float, default=0.0, help="minimum probability")
    common(p)
    p.set_defaults(func=cmd_predict)

    p = commands.add_parser("quantize", help="a small classifier: prune rows, then "
                            "float16/int8/int4/PQ (FastText.zip; same as compress)",
                            description="compress for classifiers: 'quantize M -o OUT --method "
                            "int4 --keep N' = 'compress M -o OUT --method pruned+int4 --keep N'.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--method", choices=_SMALL_METHODS, default="pq")
    _small_options(p)
    p.add_argument("--train", help="training file (needed by --retrain)")
    p.add_argument("--test", help="evaluate both models on this labelled file")
    _reading_options(p)
    common(p)
    p.set_defaults(func=cmd_quantize)

    p = commands.add_parser("cluster", help="k-means over the vectors of a file")
    p.add_argument("file", metavar="FILE", help="word vectors, factor model (items), "
                   "classifier (words) or table")
    p.add_argument("--clusters", type=int, default=20, help="number of clusters (default 20)")
    deprecated_alias(p, "--k", "--clusters")
    p.add_argument("--keys", help="cluster only these keys (one per line; unknown keys are "
                   "skipped and counted)")
    p.add_argument("--max-keys", type=int, default=20000,
                   help="without --keys: the N most frequent keys (default 20000)")
    p.add_argument("--labels", help="'key label' lines: also report NMI and ARI")
    p.add_argument("--top", type=int, default=10, help="members shown per cluster")
    p.add_argument("--metric", choices=["cosine", "euclidean"], default="cosine")
    p.add_argument("--restarts", type=int, default=3, help="k-means++ restarts (default 3)")
    p.add_argument("--seed", type=int, default=0)
    common(p)
    p.set_defaults(func=cmd_cluster)

    p = commands.add_parser("plot", help="2-D picture (PCA/UMAP) of the vectors of a file")
    p.add_argument("file", metavar="FILE")
    p.add_argument("-o", "--out", required=True, metavar="PNG")
    p.add_argument("--keys", help="draw only these keys (one per line; unknown keys are "
                   "skipped and counted)")
    p.add_argument("--max-keys", type=int, default=2000,
                   help="without --keys: the N most frequent keys (default 2000), plus every "
                   "key of --labels")
    p.add_argument("--clusters", type=int, help="colour by this many k-means clusters")
    deprecated_alias(p, "--k", "--clusters")
    p.add_argument("--labels", help="colour by 'key label' lines")
    p.add_argument("--method", choices=["pca", "umap"], default="pca")
    p.add_argument("--annotate", type=int, default=30, help="name the first N points")
    p.add_argument("--seed", type=int, default=0)
    common(p)
    p.set_defaults(func=cmd_plot)


def _load_classifier(path):
    from ..train._classifier import TextClassifier

    return load_object(path, TextClassifier, "classifier",
                       "train one with 'compactemb train classifier'")


def _shrink(args, model, method, texts=None, labels=None):
    """quantize and train classifier --compress: compress's code path (pruned+METHOD --keep)."""
    from ._compress import compress_object

    check_positive("keep", args.cutoff)
    check_positive("n-subvectors", args.n_subvectors)
    if args.n_subvectors is not None and method != "pq":
        raise InputError("--n-subvectors applies to --method pq only")
    options = {"retrain": args.retrain, "score": args.score, "hash_words": args.hash_words}
    options = {k: v for k, v in options.items() if v}
    if args.n_subvectors is not None:
        options["n_subvectors"] = args.n_subvectors
    if args.cutoff is not None:
        method, options["keep"] = f"pruned+{method}", args.cutoff
    if texts is not None:  # train classifier --compress: the data is already read
        options.update(texts=texts, labels=labels)
    return compress_object(args, model, method, options)


def _summary(model) -> dict:
    return {"words": len(model.vocab_), "ngram_rows": int(model.bucket_ids_.shape[0]),
            "labels": len(model.labels_), "dim": model.dim, "table": model.table_.kind,
            "model_bytes": model.nbytes}


def cmd_train_classifier(args) -> int:
    from ..text import Tokenizer
    from ..train._classifier import TextClassifier

    for name in ("dim", "ngrams", "buckets", "epochs", "learning_rate", "min_count", "threads"):
        check_positive(name.replace("_", "-"), getattr(args, name))
    if args.maxn > 0 and not 1 <= args.minn <= args.maxn or args.maxn < 0 or args.minn < 0:
        raise InputError(f"--minn {args.minn} --maxn {args.maxn}: char n-grams need "
                         "1 <= minn <= maxn (or --maxn 0 for none)")
    if (args.cutoff or args.retrain or args.n_subvectors or args.score or args.hash_words) \
            and not args.compress:
        raise InputError("--cutoff/--score/--hash-words/--retrain/--n-subvectors need "
                         "--compress METHOD")
    texts, labels = _read(args, args.train)
    model = TextClassifier(dim=args.dim, ngrams=args.ngrams, n_buckets=args.buckets,
                           epochs=args.epochs, learning_rate=args.learning_rate,
                           min_count=args.min_count,
                           loss=args.loss, n_threads=args.threads, random_state=args.seed,
                           tokenizer=Tokenizer(args.token_pattern, lowercase=args.lowercase),
                           minn=args.minn, maxn=args.maxn, bits=args.bits)
    model.fit(texts, labels)
    out = {"output": args.out, **model.train_info_, "float32_bytes": model.nbytes}
    if args.compress:
        model = _shrink(args, model, args.compress, texts, labels)
        out["compressed"] = args.compress
    model.save(args.out)
    out.update(_summary(model), file_bytes=os.path.getsize(args.out))
    text = (f"{out['examples']:,} examples, {out['words']:,} words + {out['ngram_rows']:,} "
            f"n-gram rows x {model.dim}, {out['labels']} labels in {out['seconds']:.2f} s "
            f"-> {args.out} ({out['file_bytes']:,} bytes)")
    if args.test:
        res = model.evaluate(*_read(args, args.test))
        out["test"] = {k: res[k] for k in ("n", "accuracy", "macro_f1")}
        text += f"\ntest: accuracy {res['accuracy']:.4f}, macro F1 {res['macro_f1']:.4f}"
    emit(args, out, text)
    return 0


def cmd_eval_classifier(args) -> int:
    check_positive("k", args.k)
    model = _load_classifier(args.model)
    texts, labels = _read(args, args.test)
    res = model.evaluate(texts, labels, k=args.k)
    if not args.per_class:
        res.pop("per_class")
    res = {"model": args.model, "test": args.test, **res}
    text = (f"{res['n']:,} examples: accuracy {res['accuracy']:.4f}, macro P/R/F1 "
            f"{res['macro_precision']:.4f}/{res['macro_recall']:.4f}/{res['macro_f1']:.4f}, "
            f"P@{args.k} {res[f'precision_at_{args.k}']:.4f}, "
            f"R@{args.k} {res[f'recall_at_{args.k}']:.4f}")
    if res.get("unseen_labels"):
        text += (f"\n{res['unseen_examples']} examples have labels never seen in training "
                 f"(counted as errors): {', '.join(res['unseen_labels'][:10])}")
    emit(args, res, text)
    return 0


def cmd_predict(args) -> int:
    check_positive("k", args.k)
    model = _load_classifier(args.model)
    texts = [line.rstrip("\n") for line in sys.stdin] if args.texts == ["-"] else args.texts
    preds = model.predict(texts, k=args.k, threshold=args.threshold, return_proba=True)
    out = [{"text": t, "labels": [{"label": lab, "probability": round(p, 6)} for lab, p in r]}
           for t, r in zip(texts, preds)]
    text = "\n".join(" ".join(f"{lab} {p:.4f}" for lab, p in r) or "(none)" for r in preds)
    emit(args, out, text)
    return 0


def cmd_quantize(args) -> int:
    """compress for classifiers under its first name: same code path, its own --json keys."""
    if os.path.abspath(args.model) == os.path.abspath(args.out):
        raise InputError(f"--out {args.out} is the input model; choose another output")
    if args.retrain and not args.train:
        raise InputError("--retrain needs --train TRAIN (the training file)")
    model = _load_classifier(args.model)
    small = _shrink(args, model, args.method)
    small.save(args.out)
    out = {"input": args.model, "output": args.out, "method": args.method,
           "cutoff": args.cutoff, "score": small.train_info_["compression"]["score"],
           "retrain": args.retrain,
           "bytes_before": model.nbytes, "bytes_after": small.nbytes,
           "ratio": round(model.nbytes / max(small.nbytes, 1), 2),
           "file_bytes": os.path.getsize(args.out)}
    text = (f"{args.method}: {out['bytes_before']:,} B -> {out['bytes_after']:,} B "
            f"({out['ratio']}x smaller) -> {args.out}")
    if args.test:
        data = _read(args, args.test)
        out["accuracy_before"] = model.evaluate(*data)["accuracy"]
        out["accuracy_after"] = small.evaluate(*data)["accuracy"]
        text += (f"\naccuracy {out['accuracy_before']:.4f} -> {out['accuracy_after']:.4f}")
    emit(args, out, text)
    return 0


def _read_label_file(path) -> dict:
    from ..text import iter_lines

    labels = {}
    for lineno, line in enumerate(iter_lines(path), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 2:
            raise InputError(f"{path}: line {lineno}: expected 'key label'")
        labels[parts[0]] = parts[1]
    if not labels:
        raise InputError(f"{path}: no 'key label' lines")
    return labels


def _select_keys(kv, keys_file):
    """Known keys of ``keys_file`` (normalised as the vocabulary was built) and the number of
    unknown ones skipped (noted on stderr); an error only when none is known."""
    from ..vocab import read_vocab_file
    from ._core import normalise_keys

    keys = normalise_keys(kv, read_vocab_file(keys_file))
    ids = kv.vocab.encode(keys, on_unknown="fill")
    missing = [k for k, i in zip(keys, ids) if i < 0]
    if len(missing) == len(keys):
        raise InputError(f"{keys_file}: none of its {len(keys)} keys is in the file's "
                         f"vocabulary, e.g. {', '.join(map(repr, missing[:5]))}")
    if missing:
        print(f"compactemb: note: skipped {len(missing)} of {len(keys)} keys of {keys_file} "
              f"that are not in the vocabulary, e.g. {', '.join(map(repr, missing[:5]))}",
              file=sys.stderr)
    return [k for k, i in zip(keys, ids) if i >= 0], len(missing)


def cmd_cluster(args) -> int:
    from ..cluster import cluster_keys

    for name in ("clusters", "max_keys", "top", "restarts"):
        check_positive(name.replace("_", "-"), getattr(args, name))
    kv = load_vectors(args.file)
    keys, skipped = _select_keys(kv, args.keys) if args.keys else (None, 0)
    labels = _read_label_file(args.labels) if args.labels else None
    n = len(keys) if keys is not None else min(args.max_keys, len(kv.vocab))
    if args.clusters > n:
        raise InputError(f"--clusters {args.clusters} is more than the {n} keys to cluster")
    res = cluster_keys(kv, args.clusters, keys=keys, top=args.top, max_keys=args.max_keys,
                       metric=args.metric, n_init=args.restarts, random_state=args.seed,
                       labels=labels)
    out = {"file": args.file, "metric": args.metric, **res.to_dict(), "unknown_keys": skipped}
    lines = [f"{out['n_keys']:,} keys in {args.clusters} clusters ({args.metric}); silhouette "
             + (f"{res.silhouette:.3f}" if res.silhouette is not None else "n/a")
             + (f", NMI {res.metrics['nmi']:.3f}, ARI {res.metrics['ari']:.3f}"
                if res.metrics else "")]
    for c in res.clusters:
        lines.append(f"{c['cluster']:>4} ({c['size']:,}): " + " ".join(map(str, c["members"])))
    emit(args, out, "\n".join(lines))
    return 0


def cmd_plot(args) -> int:
    from ..plots import plot_keyed

    check_positive("max-keys", args.max_keys)
    check_positive("clusters", args.clusters)
    if args.clusters is not None and args.labels:
        raise InputError("give --clusters (colour by clusters) or --labels, not both")
    kv = load_vectors(args.file)
    keys, skipped = _select_keys(kv, args.keys) if args.keys else (None, 0)
    labels = _read_label_file(args.labels) if args.labels else None
    info = plot_keyed(kv, args.out, keys=keys, max_keys=args.max_keys, k=args.clusters,
                      labels=labels, method=args.method, annotate=max(args.annotate, 0),
                      random_state=args.seed)
    info["unknown_keys"] = skipped
    emit(args, info, f"{info['points']:,} points ({info['method']}) -> {args.out}")
    return 0
