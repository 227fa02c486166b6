"""Commands: compress (one method) and frontier (a grid of methods, evaluated)."""

from __future__ import annotations

import os
import sys

from ..exceptions import InputError
from . import common, emit

# CLI option -> compress() option; only options given on the command line are passed on
_OPTION_FLAGS = {
    "n_subvectors": ("--n-subvectors", int, "pq: sub-vectors M (must divide dim; bytes/row; "
                                            "default: largest divisor <= dim/4, classifiers "
                                            "dim/2)"),
    "n_centroids": ("--n-centroids", int, "pq: centroids per sub-space (2..256, default 256)"),
    "bits": ("--bits", int, "pq: bits per code (1..8; n_centroids = 2**bits)"),
    "n_iter": ("--n-iter", int, "pq: k-means iterations (default 20)"),
    "sample": ("--sample", int, "pq: rows sampled to train k-means (default 65536)"),
    "rank": ("--rank", int, "lowrank: rank (default dim/4)"),
    "fallback": ("--fallback", str, "pruned: vector of pruned rows: 'hash' buckets (default), "
                                    "one 'shared' row, or 'lowbit' (own 1-bit codes, = tiered)"),
    "n_fallback": ("--n-fallback", int, "pruned: hash buckets for pruned rows"),
    "tail_components": ("--tail-components", int, "tiered / --fallback lowbit: 1-bit principal "
                        "directions per dropped row (default dim/4, whole bytes)"),
    "n_blocks": ("--n-blocks", int, "mixed: frequency blocks (default 4)"),
    "shrink": ("--shrink", float, "mixed: width divisor per block (default 4)"),
    "seed": ("--seed", int, "pq: random seed (default 0)"),
    "ratio": ("--ratio", str, "pq: choose M and centroids for this ratio to float32, e.g. 32x, "
                              "with an OPQ rotation unless --no-rotation (without --ratio/"
                              "--max-bytes: the default M above, no rotation)"),
    "max_bytes": ("--max-bytes", str, "pq: choose M and centroids to fit SIZE (5MB, 300KiB, "
                                      "32x) per table"),
}
# classifier-only options of compress (argparse dest names)
_CLASSIFIER_FLAGS = {"retrain": "--retrain", "train": "--train", "score": "--score",
                     "hash_words": "--hash-words", "retrain_epochs": "--retrain-epochs",
                     "test": "--test"}


def keep_value(text: str):
    """``--keep``: a row count (whole number >= 1) or a fraction in (0, 1)."""
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value >= 1:
        if value != int(value):
            raise argparse.ArgumentTypeError(f"{text}: a row count must be a whole number")
        return int(value)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: give a row count >= 1 or a fraction in (0, 1)")
    return value


def register(commands, families) -> None:
    from ..compress import ALIASES, METHODS
    from ._classify import _reading_options

    p = commands.add_parser("compress", help="compress the tables of any file",
                            description="Compress word vectors, a factor model, a classifier or "
                            "a bare table. Methods are table kinds (" + ", ".join(METHODS)
                            + ", bit2, bit1, tiered); pruned and tiered combine as "
                            "pruned+<method> / tiered+<method>, e.g. pruned+pq, tiered+bit2. Old "
                            "names still work: " + ", ".join(f"{a}={c}" for a, c in
                                                             ALIASES.items()) + ".")
    p.add_argument("file", metavar="IN")
    p.add_argument("-o", "--out", required=True, help="output file (never the input)")
    p.add_argument("--method", required=True, metavar="METHOD",
                   help=", ".join(METHODS) + ", bit2, bit1, tiered, or pruned+<method> / "
                   "tiered+<method>")
    p.add_argument("--keep", type=keep_value, default=None,
                   help="pruned/tiered: rows kept (tiered: in the head), a count (>= 1) or a "
                        "fraction (< 1); default 0.25; "
                        "a count above the row count keeps every row (with a note)")
    for name, (flag, typ, help_) in _OPTION_FLAGS.items():
        p.add_argument(flag, dest=name, type=typ, default=None, help=help_)
    p.add_argument("--rotation", action="store_true", default=None,
                   help="pq: learn an OPQ rotation first")
    p.add_argument("--no-rotation", dest="rotation", action="store_false", default=None,
                   help="pq: no rotation (plain PQ) with --ratio/--max-bytes")
    p.add_argument("--normalize", action="store_true", default=None,
                   help="pq: quantise unit vectors, keep a float16 scale per row (2 B/row)")
    p.add_argument("--no-tail-norms", dest="tail_normalize", action="store_const", const=False,
                   default=None, help="tiered / --fallback lowbit: no float16 norm per dropped "
                   "row (2 B/row less)")
    g = p.add_argument_group("factor models")
    g.add_argument("--user-method", metavar="METHOD",
                   help="method of the user table (default: --method)")
    g.add_argument("--item-method", metavar="METHOD",
                   help="method of the item table (default: --method)")
    g.add_argument("--side", choices=["both", "user", "item"], default=None,
                   help="compress one side only (the other table is kept as it is)")
    g = p.add_argument_group("classifiers (FastText.zip)")
    g.add_argument("--score", choices=["usage", "norm"],
                   help="rank rows for pruned by norm x sqrt(use in training) ('usage', the "
                   "default when the model has its row counts) or by norm (fastText)")
    g.add_argument("--hash-words", action="store_true", default=None,
                   help="store the kept words as 32-bit hashes (4 B a word instead of ~24)")
    g.add_argument("--retrain", action="store_true", default=None,
                   help="fine-tune after pruning and refit the output layer after quantising "
                        "(needs --train)")
    g.add_argument("--retrain-epochs", type=int, help="epochs of --retrain (default: the "
                   "model's)")
    g.add_argument("--train", help="training file (needed by --retrain)")
    g.add_argument("--test", help="evaluate both models on this labelled file")
    _reading_options(p)
    # --ray: row ranges quantised, PQ rows encoded as Ray tasks (compactemb.distributed)
    from ..distributed._cli import add_ray_options

    add_ray_options(p, "quantise row ranges")
    common(p)
    p.set_defaults(func=cmd_compress)

    f = commands.add_parser("frontier", help="bytes vs quality over a grid of compressions",
                            description="Compress with a grid of methods, evaluate each "
                            "(words: analogies/similarity; factor models: ranking on held-out "
                            "interactions) and write frontier.json, frontier.md, frontier.png.")
    f.add_argument("file", metavar="IN")
    f.add_argument("--out", required=True, metavar="DIR", help="output directory")
    f.add_argument("--analogies", help="words: analogy questions (questions-words.txt format)")
    f.add_argument("--similarity", action="append", default=[],
                   help="words: similarity file (word word score); repeatable")
    f.add_argument("--restrict", type=int, default=30000,
                   help="words: analogies over the N most frequent keys (default 30000)")
    f.add_argument("--analogy-method", choices=["add", "mul"], default="add")
    f.add_argument("--test", help="factor models: held-out 'user item [weight]' interactions")
    f.add_argument("-k", type=int, default=10, help="factor models: cut-off of ndcg@k")
    f.add_argument("--grid", action="append", default=None, metavar="SPEC",
                   help="a setting 'method[:opt=value,...]' (e.g. pq:n_subvectors=30); "
                        "repeatable; default: a built-in grid")
    f.add_argument("--no-plot", action="store_true", help="skip the PNG")
    common(f)
    f.set_defaults(func=cmd_frontier)


def _same_file(a: str, b: str) -> bool:
    if os.path.abspath(a) == os.path.abspath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _load_compressible(path):
    from ..storage import load

    return load(path)


def is_classifier(obj) -> bool:
    return type(obj).__name__ == "TextClassifier"


def compress_object(args, obj, method: str, options: dict):
    """The one code path of compress, quantize and train classifier --compress.

    ``options`` are compress() options as given on the command line; with ``--retrain`` the
    training file is read here. Prints a note per capped --keep; returns the compressed object.
    """
    from ..compress import compress, keep_capped

    options = dict(options)
    if options.get("retrain") and "texts" not in options:
        if not getattr(args, "train", None):
            raise InputError("--retrain needs --train TRAIN (the training file)")
        from ._classify import _read

        options["texts"], options["labels"] = _read(args, args.train)
    small = compress(obj, method, **options)
    for where, requested, rows in keep_capped(small):
        what = "rows" if where == "table" else f"{where} rows"
        print(f"compactemb: note: --keep {requested} is more than the {rows:,} {what}; "
              "keeping all of them", file=sys.stderr)
    return small


def cmd_compress(args) -> int:
    from ..frontier import table_bytes

    if _same_file(args.file, args.out):
        raise InputError(f"--out {args.out} is the input file; compress never overwrites its "
                         "input, choose another output")
    obj = _load_compressible(args.file)
    classifier = is_classifier(obj)
    given = [flag for dest, flag in _CLASSIFIER_FLAGS.items()
             if getattr(args, dest, None) is not None]
    if given and not classifier:
        raise InputError(f"{', '.join(given)} apply to classifiers; {args.file} holds a "
                         f"{type(obj).__name__}")
    if args.train and not args.retrain:
        raise InputError("--train is read by --retrain only; add --retrain (or drop --train)")
    options = {k: getattr(args, k) for k in ["keep", *_OPTION_FLAGS, "rotation", "normalize",
                                             "tail_normalize", "retrain", "score",
                                             "hash_words", "retrain_epochs"]
               if getattr(args, k, None) is not None}
    before = table_bytes(obj)
    for name in ("user_method", "item_method", "side"):
        if getattr(args, name):
            options[name] = getattr(args, name)
    with _maybe_on_ray(args):
        small = compress_object(args, obj, args.method, options)
    after = table_bytes(small)
    small.save(args.out)
    from ..compress import keep_capped

    out = {"input": args.file, "output": args.out, "method": args.method, "options": options,
           "table_bytes_before": before, "table_bytes_after": after,
           "ratio": round(before / after, 3) if after else None,
           "file_bytes": os.path.getsize(args.out), "kind": _kind_name(obj),
           "keep_capped": [{"table": w, "requested": r, "rows": n}
                           for w, r, n in keep_capped(small)]}
    text = (f"{args.method}: tables {before:,} B -> {after:,} B "
            f"({out['ratio']}x smaller) -> {args.out}")
    if classifier and args.test:
        from ._classify import _read

        data = _read(args, args.test)
        out["accuracy_before"] = obj.evaluate(*data)["accuracy"]
        out["accuracy_after"] = small.evaluate(*data)["accuracy"]
        text += f"\naccuracy {out['accuracy_before']:.4f} -> {out['accuracy_after']:.4f}"
    emit(args, out, text)
    return 0


def _maybe_on_ray(args):
    """With --ray, the row-wise work of compress as Ray tasks (the same file as locally)."""
    import contextlib

    from ..distributed._cli import ray_address, using_ray

    if not using_ray(args):
        return contextlib.nullcontext()
    from ..distributed._compress import ray_compression

    return ray_compression(ray_address(args))


def _kind_name(obj) -> str:
    return {"KeyedVectors": "vectors", "FactorModel": "factor_model",
            "TextClassifier": "classifier"}.get(type(obj).__name__, "table")


def _test_matrix(model, path):
    """Held-out interactions as a users x items matrix in the model's row order."""
    import numpy as np
    import scipy.sparse as sp

    from ..interactions import read_interactions

    inter = read_interactions(path)
    coo = inter.matrix.tocoo()
    u = model.user_vocab.encode(inter.user_vocab.keys, on_unknown="fill")[coo.row]
    i = model.item_vocab.encode(inter.item_vocab.keys, on_unknown="fill")[coo.col]
    ok = (u >= 0) & (i >= 0)
    if not ok.any():
        raise InputError(f"{path}: none of its users and items are in the model")
    shape = (model.user_table.n_rows, model.item_table.n_rows)
    return sp.csr_matrix((np.ones(int(ok.sum()), np.float32), (u[ok], i[ok])), shape=shape)


def cmd_frontier(args) -> int:
    from ..frontier import (
        frontier,
        frontier_markdown,
        parse_grid_entry,
        ranking_evaluator,
        word_evaluator,
        write_frontier,
    )
    from ..keyed import KeyedVectors
    from ..recommend import FactorModel

    obj = _load_compressible(args.file)
    if isinstance(obj, KeyedVectors):
        if args.test:
            raise InputError("--test applies to factor models; word vectors take --analogies "
                             "and --similarity")
        evaluator, primary = word_evaluator(analogies=args.analogies,
                                            similarity=args.similarity,
                                            restrict=args.restrict, method=args.analogy_method)
    elif isinstance(obj, FactorModel):
        if not args.test:
            raise InputError("a factor model is evaluated on held-out interactions: give --test")
        if args.k < 1:
            raise InputError(f"-k must be >= 1, got {args.k}")
        evaluator, primary = ranking_evaluator(_test_matrix(obj, args.test), k=args.k)
    else:
        raise InputError(f"{args.file}: holds a {type(obj).__name__}; frontier needs word "
                         "vectors or a factor model (something it can evaluate)")
    grid = None if args.grid is None else [parse_grid_entry(s) for s in args.grid]
    result = frontier(obj, evaluator, primary, grid=grid)
    result["input"] = args.file
    paths = write_frontier(result, args.out, plot=not args.no_plot)
    emit(args, {**result, "files": paths}, frontier_markdown(result)
         + "\n" + "\n".join(f"wrote {p}" for p in paths.values()))
    return 0
