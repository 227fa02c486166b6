"""Commands: memory, info, neighbors, analogy, vocab, demo."""

from __future__ import annotations

import os

from ..exceptions import InputError
from . import common, emit, emit_ranked


def register(commands, families) -> None:
    p = commands.add_parser("memory", help="one-hot vs embedding memory, by arithmetic",
                            description="Memory of one-hot encodings against embedding tables "
                            "for a vocabulary (--vocab) or a recommender (--users/--items).")
    p.add_argument("--vocab", type=int, help="vocabulary size (rows)")
    p.add_argument("--users", type=int, help="number of users")
    p.add_argument("--items", type=int, help="number of items")
    p.add_argument("--interactions", type=int, help="number of interactions (with --users)")
    p.add_argument("--dim", type=int, required=True, help="embedding dimension")
    p.add_argument("--dtype", default="float32", choices=["float32", "float16"])
    p.add_argument("--plot", metavar="PNG", help="also write memory against vocabulary size")
    common(p)
    p.set_defaults(func=cmd_memory)

    p = commands.add_parser("info", help="what a compactemb file holds, with measured memory")
    p.add_argument("file")
    p.add_argument("--no-verify", action="store_true", help="skip checksums")
    common(p)
    p.set_defaults(func=cmd_info)

    p = commands.add_parser("neighbors", help="nearest neighbours (cosine, exact)")
    p.add_argument("file")
    p.add_argument("keys", nargs="+", metavar="KEY")
    p.add_argument("-k", type=int, default=10)
    common(p)
    p.set_defaults(func=cmd_neighbors)

    p = commands.add_parser("analogy", help="a is to b as c is to ?")
    p.add_argument("file")
    p.add_argument("a")
    p.add_argument("b")
    p.add_argument("c")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--method", choices=["add", "mul"], default="add",
                   help="3CosAdd or 3CosMul (default add)")
    common(p)
    p.set_defaults(func=cmd_analogy)

    p = commands.add_parser("vocab", help="build a vocabulary from a corpus")
    p.add_argument("corpus")
    p.add_argument("-o", "--out", required=True)
    p.add_argument("--min-count", type=int, default=5)
    p.add_argument("--max-size", type=int)
    p.add_argument("--max-scan-size", type=int, default=10_000_000,
                   help="prune rare keys during the scan above this many (bounded memory)")
    add_tokenizer_options(p)
    common(p)
    p.set_defaults(func=cmd_vocab)

    p = commands.add_parser("demo", help="the whole system on the bundled Jane Austen corpus")
    p.add_argument("--out", default="compactemb-demo", help="output directory")
    p.add_argument("--dim", type=int, default=100)
    p.add_argument("--analogies", help="an analogy file (questions-words.txt format)")
    p.add_argument("--similarity", action="append", default=[],
                   help="a word-similarity file (repeatable)")
    common(p)
    p.set_defaults(func=cmd_demo)


def add_tokenizer_options(p) -> None:
    p.add_argument("--token-pattern", default=None,
                   help=r"regex of a token (default [^\W\d_]+: runs of letters)")
    p.add_argument("--no-lowercase", action="store_true", help="keep the case of tokens")


def tokenizer_from(args):
    from ..text import DEFAULT_PATTERN, Tokenizer

    return Tokenizer(args.token_pattern or DEFAULT_PATTERN, lowercase=not args.no_lowercase)


def check_positive(name: str, value) -> None:
    if value is not None and value <= 0:
        raise InputError(f"--{name} must be > 0, got {value}")


def cmd_memory(args) -> int:
    from ..memory import format_comparison, interaction_memory, onehot_vs_embedding

    check_positive("dim", args.dim)
    if args.vocab is not None:
        if args.users is not None or args.items is not None:
            raise InputError("give either --vocab or --users/--items, not both")
        check_positive("vocab", args.vocab)
        result = onehot_vs_embedding(args.vocab, args.dim, dtype=args.dtype)
    elif args.users is not None and args.items is not None:
        check_positive("users", args.users)
        check_positive("items", args.items)
        check_positive("interactions", args.interactions)
        result = interaction_memory(args.users, args.items, args.dim, dtype=args.dtype,
                                    n_interactions=args.interactions)
    else:
        raise InputError("give --vocab N, or --users N and --items M")
    if args.plot:
        from ..memory import plot_memory_growth

        n = args.vocab or (args.users + args.items)
        plot_memory_growth(args.plot, dim=args.dim,
                           marks={f"{n:,} x {args.dim}": (n, n * args.dim * 4)})
        result["plot"] = args.plot
    emit(args, result, format_comparison(result))
    return 0


def cmd_info(args) -> int:
    from ..memory import memory_report
    from ..storage import load, read_file

    stored = read_file(args.file, mmap_mode=True, verify=not args.no_verify)
    obj = load(args.file, mmap=True, verify=False)
    report = memory_report(obj)
    info = {
        "file": args.file, "kind": stored.kind, "file_bytes": os.path.getsize(args.file),
        "format_version": 1, "library_version": stored.header.get("library_version"),
        "components": {n: {"type": c["type"], **c.get("attrs", {})}
                       for n, c in stored.components.items()},
        "meta": stored.meta, "memory": report.to_dict(),
    }
    text = "\n".join([
        f"{args.file}: {stored.kind}, {info['file_bytes']:,} bytes on disk",
        *[f"  {n}: {c['type']} " + ", ".join(f"{k}={v}" for k, v in c.items()
                                              if k not in ("type", "build_info"))
          for n, c in info["components"].items()],
        str(report),
    ])
    emit(args, info, text)
    return 0


def load_vectors(path):
    """Keyed vectors of any file with vectors: word vectors, a factor model's items, a
    classifier's words, or a bare table (keyed by row number)."""
    import numpy as np

    from ..keyed import KeyedVectors
    from ..recommend import FactorModel
    from ..storage import load
    from ..tables import EmbeddingTable
    from ..vocab import Vocab

    obj = load(path, mmap=True)
    if isinstance(obj, KeyedVectors):
        return obj
    if isinstance(obj, FactorModel):
        return KeyedVectors(obj.item_vocab, obj.item_table, obj.meta)
    if hasattr(obj, "word_vectors"):  # a classifier
        return obj.word_vectors()
    if isinstance(obj, EmbeddingTable):
        return KeyedVectors(Vocab(np.arange(obj.n_rows, dtype=np.int64)), obj)
    raise InputError(f"{path}: holds a {type(obj).__name__}, which has no keyed vectors")


def cmd_neighbors(args) -> int:
    check_positive("k", args.k)
    kv = load_vectors(args.file)
    emit_ranked(args, args.keys, kv.neighbors(args.keys, k=args.k))
    return 0


def cmd_analogy(args) -> int:
    check_positive("k", args.k)
    kv = load_vectors(args.file)
    res = kv.analogy(args.a, args.b, args.c, k=args.k, method=args.method)
    out = {"question": [args.a, args.b, args.c], "method": args.method,
           "answers": [{"key": n, "score": round(s, 6)} for n, s in res]}
    emit(args, out, f"{args.a} : {args.b} :: {args.c} : " +
         ", ".join(f"{n} ({s:.3f})" for n, s in res))
    return 0


def cmd_vocab(args) -> int:
    from ..vocab import Vocab

    vocab = Vocab.from_corpus(args.corpus, tokenizer=tokenizer_from(args),
                              min_count=args.min_count, max_size=args.max_size,
                              max_scan_size=args.max_scan_size)
    vocab.save(args.out)
    out = {"output": args.out, "size": len(vocab), **vocab.build_info,
           "most_frequent": vocab.keys[:10]}
    emit(args, out, f"{len(vocab):,} keys (of {vocab.build_info['distinct_seen']:,} distinct, "
         f"{vocab.build_info['tokens']:,} tokens) -> {args.out}")
    return 0


def cmd_demo(args) -> int:
    from ..demo import run_demo

    check_positive("dim", args.dim)
    report = run_demo(args.out, dim=args.dim, analogies=args.analogies,
                      similarity=args.similarity, echo=not args.json)
    if args.json:
        emit(args, report)
    return 0
