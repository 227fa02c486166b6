"""Command: shrink (the smallest compression within a quality budget, or the best within a size
budget)."""

from __future__ import annotations

import os
import sys

from ..exceptions import InputError
from . import common, emit


def _quality(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text}: give a positive relative quality, e.g. 0.97")
    return value


def register(commands, families) -> None:
    from ._classify import _reading_options

    p = commands.add_parser(
        "shrink", help="the smallest compression keeping a quality, or the best within a size",
        description="Search the compression methods (float16, int8, int4, 2-bit, 1-bit, pq, "
        "pruned+<method>, tiered+<method>) for the best one within a budget: --max-bytes "
        "(e.g. 5MB, 300KiB, 32x = a 32nd of float32) keeps the most faithful candidate that "
        "fits, --min-quality "
        "the smallest that keeps the quality (relative to the input, 1.0 = as good). Quality "
        "is neighbour recall@10 against the input on frequent keys unless evaluation files "
        "are given (then the mean of each metric relative to the input's). Exits 1, printing "
        "the closest candidate, when no method meets the budget.")
    p.add_argument("file", metavar="IN")
    p.add_argument("-o", "--out", required=True, help="output file (never the input)")
    budget = p.add_argument_group("budget (one or both)")
    budget.add_argument("--max-bytes", metavar="SIZE",
                        help="table bytes allowed: 5MB, 300KiB, 123456 or 32x")
    budget.add_argument("--min-quality", type=_quality, metavar="Q",
                        help="relative quality to keep, e.g. 0.97")
    ev = p.add_argument_group("evaluation (default: neighbour recall@10 against the input)")
    ev.add_argument("--analogies", help="words: analogy questions (questions-words.txt format)")
    ev.add_argument("--similarity", action="append", default=[],
                    help="words: similarity file (word word score); repeatable")
    ev.add_argument("--restrict", type=int, default=30000,
                    help="words: analogies over the N most frequent keys (default 30000)")
    ev.add_argument("--test", help="factor models: held-out 'user item [weight]' interactions "
                    "(ndcg@k); classifiers: a labelled test file (accuracy)")
    ev.add_argument("-k", type=int, default=10, help="cut-off of recall@k / ndcg@k (default 10)")
    ev.add_argument("--queries", type=int, default=1000,
                    help="default quality: keys (of the 50,000 most frequent) or users "
                    "sampled (default 1000)")
    _reading_options(p)
    common(p)
    p.set_defaults(func=cmd_shrink)


def _evaluator(args, obj):
    from ..shrink import (
        _kind,
        accuracy_evaluator,
        neighbour_recall,
        ranking_evaluator,
        word_evaluator,
    )

    kind = _kind(obj)
    words = args.analogies is not None or bool(args.similarity)
    if words and kind != "vectors":
        raise InputError(f"--analogies/--similarity evaluate word vectors; {args.file} holds "
                         f"a {type(obj).__name__}")
    if args.test and kind not in ("factors", "classifier"):
        raise InputError(f"--test applies to factor models and classifiers; {args.file} holds "
                         f"a {type(obj).__name__}")
    if args.k < 1:
        raise InputError(f"-k must be >= 1, got {args.k}")
    if args.queries < 1:
        raise InputError(f"--queries must be >= 1, got {args.queries}")
    if words:
        return word_evaluator(analogies=args.analogies, similarity=args.similarity,
                              restrict=args.restrict)
    if args.test and kind == "factors":
        from ._compress import _test_matrix

        return ranking_evaluator(_test_matrix(obj, args.test), k=args.k)
    if kind == "classifier":
        if not args.test:
            raise InputError("a classifier is evaluated on a labelled test file: give --test")
        from ._classify import _read

        return accuracy_evaluator(*_read(args, args.test))
    return neighbour_recall(obj, k=args.k, n_queries=args.queries)


def cmd_shrink(args) -> int:
    from ..shrink import shrink
    from ..storage import load
    from ._compress import _same_file

    if args.max_bytes is None and args.min_quality is None:
        raise InputError("shrink needs a budget: --max-bytes SIZE and/or --min-quality Q")
    if _same_file(args.file, args.out):
        raise InputError(f"--out {args.out} is the input file; shrink never overwrites its "
                         "input, choose another output")
    obj = load(args.file)
    evaluator = _evaluator(args, obj)
    result = shrink(obj, max_bytes=args.max_bytes, min_quality=args.min_quality,
                    evaluator=evaluator, verbose=not args.quiet and not args.json)
    out = {**result.summary(), "input": args.file, "candidates": result.candidates}
    if result.met:
        result.obj.save(args.out)
        out["output"] = args.out
        out["file_bytes"] = os.path.getsize(args.out)
        emit(args, out, f"{result.message} -> {args.out}")
        return 0
    out["output"] = None
    if args.json:
        emit(args, out)
    print(f"compactemb: error: {result.message} (nothing written)", file=sys.stderr)
    return 1
