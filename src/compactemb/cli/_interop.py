"""Commands: import and export of other tools' vector formats (word2vec, GloVe, fastText .vec)."""

from __future__ import annotations

import os

from . import common, emit
from ._core import check_positive, load_vectors


def register(commands, families) -> None:
    from ..formats import FORMATS, WRITE_FORMATS

    p = commands.add_parser("import", help="read word2vec/GloVe/fastText vectors into a "
                            ".cemb file", description="Convert vectors written by word2vec, "
                            "gensim, GloVe or fastText into a compactemb file.")
    p.add_argument("file", help="vector file (text formats may be .gz/.xz/.bz2)")
    p.add_argument("--format", required=True, choices=FORMATS,
                   help="word2vec: text with a '<count> <dim>' header; word2vec-binary; "
                   "glove: text without header; vec: fastText .vec (word2vec text); "
                   "fasttext-bin: a fastText .bin model (vectors for unseen words too)")
    p.add_argument("-o", "--out", required=True, help="output file (.cemb)")
    p.add_argument("--limit", type=int, help="read only the first N vectors")
    common(p)
    p.set_defaults(func=cmd_import)

    p = commands.add_parser("export", help="write the vectors of a .cemb file in the word2vec "
                            "text or binary format")
    p.add_argument("file", help="a compactemb file with keyed vectors (any table kind)")
    p.add_argument("--format", required=True, choices=WRITE_FORMATS)
    p.add_argument("-o", "--out", required=True, help="output file")
    common(p)
    p.set_defaults(func=cmd_export)


def cmd_import(args) -> int:
    from ..formats import load_vectors as read_vectors

    check_positive("limit", args.limit)
    kv = read_vectors(args.file, args.format, limit=args.limit)
    kv.save(args.out)
    out = {"input": args.file, "format": args.format, "output": args.out,
           "vectors": len(kv), "dim": kv.dim, "file_bytes": os.path.getsize(args.out)}
    emit(args, out, f"{len(kv):,} vectors x {kv.dim} ({args.format}) -> {args.out} "
         f"({out['file_bytes']:,} bytes)")
    return 0


def cmd_export(args) -> int:
    from ..formats import save_vectors

    kv = load_vectors(args.file)
    save_vectors(kv, args.out, args.format)
    out = {"input": args.file, "format": args.format, "output": args.out, "vectors": len(kv),
           "dim": kv.dim, "table_kind": kv.table.kind, "file_bytes": os.path.getsize(args.out)}
    emit(args, out, f"{len(kv):,} vectors x {kv.dim} -> {args.out} ({args.format}, "
         f"{out['file_bytes']:,} bytes)")
    return 0
