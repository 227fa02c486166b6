"""Commands: memory, info, neighbors, analogy, vocab, demo."""

from __future__ import annotations

import os

from ..distributed._cli import add_ray_options, ray_address, using_ray
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

    p = commands.add_parser("neighbors", help="nearest neighbours (cosine; exact, or IVF over "
                            "PQ/int8/int4 tables above 200,000 rows)")
    p.add_argument("file")
    p.add_argument("keys", nargs="+", metavar="KEY")
    p.add_argument("-k", type=int, default=10)
    how = p.add_mutually_exclusive_group()
    how.add_argument("--exact", dest="approximate", action="store_const", const=False,
                     help="exact search whatever the table's size")
    how.add_argument("--approximate", dest="approximate", action="store_const", const=True,
                     help="search through an IVF index over the table's rows")
    p.add_argument("--nprobe", type=int, default=None,
                   help="IVF lists scored per key (default 24; more is closer to exact)")
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
    add_ray_options(p, "count")
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
        n_rows = args.vocab
    elif args.users is not None and args.items is not None:
        check_positive("users", args.users)
        check_positive("items", args.items)
        check_positive("interactions", args.interactions)
        result = interaction_memory(args.users, args.items, args.dim, dtype=args.dtype,
                                    n_interactions=args.interactions)
        n_rows = args.users + args.items
    else:
        raise InputError("give --vocab N, or --users N and --items M")
    if args.plot:
        from ..memory import plot_memory_growth

        plot_memory_growth(args.plot, dim=args.dim, marks={
            f"{n_rows:,} x {args.dim}": (n_rows, n_rows * args.dim * 4)})
        result["plot"] = args.plot
    emit(args, result, format_comparison(result))
    return 0


# what each attribute of a stored component is (info explains every number it prints)
_ATTR_DOC = {
    "n_rows": "rows, one per key",
    "dim": "values per row",
    "dtype": "type of each stored value (float32: 4 B, float16: 2 B)",
    "bits": "bits per stored value; each row also keeps a scale and a bias (FBGEMM fused "
            "row-wise: int8 rows take dim + 8 B, int4 rows dim / 2 + 4 B)",
    "layout": "byte layout of a quantised row",
    "n_subvectors": "one-byte codes per row; each picks a centroid for dim / n_subvectors of "
                    "the row's values",
    "n_centroids": "centroids per sub-space (codebook entries)",
    "normalize": "whether unit vectors were quantised, with a float16 norm kept per row",
    "rotation": "whether an OPQ rotation is applied before the codes",
    "rank": "inner dimension of the low-rank factors: row = left[row] @ right",
    "n_blocks": "frequency blocks, each stored with its own (smaller) width",
    "n_keep": "first (most frequent) rows stored exactly",
    "n_fallback": "shared rows that every pruned key maps to",
    "fallback": "how pruned keys get a row: 'hash' buckets or one 'shared' row",
    "inner_kind": "table kind of the kept + fallback rows",
    "size": "keys in the vocabulary",
    "key_type": "str (stored as UTF-8 text) or int keys",
    "n_items": "items covered by the seen-items matrix (excluded from recommendations)",
    "n_buckets": "hash space of the word n-grams (only buckets seen in training have a row)",
    "ngrams": "longest word n-gram",
    "hashed_words": "whether words are stored as 32-bit hashes instead of text",
    "loss": "softmax (one label per text) or ova (one sigmoid per label)",
    "missing_ngrams": "how an n-gram without a row counts in the mean: 'zero' or 'drop'",
    "params": "the training parameters, as given to the trainer",
    "tokenizer": "how texts were split into tokens (regex pattern, lowercasing)",
    "train_info": "what training saw and took: examples, tokens, words, n-gram rows, labels, "
                  "seconds, threads, final loss",
    "build_info": "how the vocabulary was counted: tokens scanned, distinct keys seen, keys kept "
                  "after min_count / max_size, pruning during the scan",
}
# memory parts by the last part of their name
_PART_DOC = {
    "weights": "the float rows: n_rows x dim x bytes per value",
    "data": "quantised rows: codes + per-row scale and bias",
    "codes": "n_rows x n_subvectors one-byte codes",
    "codebooks": "n_subvectors x n_centroids centroids of dim / n_subvectors float32 values",
    "left": "low-rank factor, n_rows x rank float32",
    "right": "low-rank factor, rank x dim float32",
    "emb": "the rows of every frequency block at its own width",
    "proj": "per-block projections up to dim",
    "block_starts": "first row of each block",
    "block_dims": "width of each block",
    "key_bytes": "the keys' UTF-8 text, concatenated",
    "key_offsets": "int64 start of each key in key_bytes (keys + 1 entries)",
    "counts": "int64 training frequency of each key",
    "indptr": "seen items as CSR: int64 start of each user's items (users + 1)",
    "indices": "seen items as CSR: one int32 item id per seen (user, item) pair",
    "output": "classifier output layer: labels x dim float32",
    "bucket_ids": "id of each n-gram bucket with a row (sorted)",
    "row_counts": "int32 occurrences of each input row in the training data",
    "word_hashes": "uint32 hash of each kept word (instead of its text)",
}


def explain_info(stored, info: dict, report: dict) -> dict:
    """What every number of ``info`` is: one sentence per component attribute, memory part and
    total (the JSON key ``explanations``; the text output prints it under the figures)."""
    meta = stored.meta or {}
    out: dict = {"file_bytes": "size of the file on disk: the arrays below plus a header, the "
                 "metadata (training parameters and logs), checksums and alignment padding"}
    comps = {}
    for name, c in info["components"].items():
        lines = {k: _ATTR_DOC[k] for k in c if k in _ATTR_DOC}
        bias = meta.get("bias_column")
        if bias is not None and name in ("user_table", "item_table") and "dim" in c:
            lines["dim"] = (f"{c['dim']} = {c['dim'] - 1} learned factors + 1 bias column "
                            f"(column {bias}: the item's bias; users hold 1 there, so the "
                            "dot product adds the item bias) - BPR's --dim counts the factors")
        if stored.kind == "classifier" and name == "table" and "n_rows" in c:
            n_words = info["components"].get("vocab", {}).get("size")
            lines["n_rows"] = ("input rows: one per word" + (f" ({n_words:,})" if n_words else "")
                               + " then one per n-gram bucket seen in training")
        if "inner" in c:
            lines["inner"] = ("the table of the kept + fallback rows (n_rows there = n_keep + "
                              "n_fallback)")
        comps[name] = lines
    out["components"] = comps
    out["memory"] = {part: _PART_DOC.get(part.rsplit(".", 1)[-1], "one stored array")
                     for part in report.get("parts", {})}
    out["memory"]["total"] = "sum of the arrays above: what the object takes in memory once " \
        "loaded (memory-mapped arrays are paged in on use)"
    if report.get("onehot_comparison"):
        out["arithmetic_comparison"] = (
            "computed, not measured: the same number of keys as one-hot vectors (dense: one "
            "value per key, sparse CSR: an index and a value) against an uncompressed "
            f"{report['onehot_comparison'].get('dtype', 'float32')} table of the same shape; "
            "for a compressed file the measured table bytes are in the memory list above")
    return out


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
    info["explanations"] = explain_info(stored, info, info["memory"])
    ex = info["explanations"]
    notes = ["What the numbers are:", f"  {info['file_bytes']:,} bytes on disk: {ex['file_bytes']}"]
    grouped: dict = {}  # one line per sentence, naming every figure it explains
    for name, lines in ex["components"].items():
        for k, v in lines.items():
            grouped.setdefault(v, []).append(f"{name}.{k}")
    for part, v in ex["memory"].items():
        grouped.setdefault(v, []).append(part)
    notes += [f"  {', '.join(names)}: {v}" for v, names in grouped.items()]
    if "arithmetic_comparison" in ex:
        notes.append(f"  Arithmetic comparison: {ex['arithmetic_comparison']}")
    text = "\n".join([
        f"{args.file}: {stored.kind}, {info['file_bytes']:,} bytes on disk",
        *[f"  {n}: {c['type']} " + ", ".join(f"{k}={v}" for k, v in c.items()
                                              if k not in ("type", "build_info"))
          for n, c in info["components"].items()],
        str(report),
        *notes,
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
    if hasattr(obj, "word_vectors"):  # a classifier: its queries are read by its tokenizer
        kv = obj.word_vectors()
        tok = obj.tokenizer.to_dict() if obj.tokenizer is not None else {"lowercase": False}
        kv.meta = {**kv.meta, "tokenizer": tok}
        return kv
    if isinstance(obj, EmbeddingTable):
        return KeyedVectors(Vocab(np.arange(obj.n_rows, dtype=np.int64)), obj)
    raise InputError(f"{path}: holds a {type(obj).__name__}, which has no keyed vectors")


def tokenizer_info(kv) -> dict | None:
    """How the vocabulary of ``kv`` was tokenised ({"pattern", "lowercase"}), if recorded."""
    meta = kv.meta or {}
    for info in (meta.get("tokenizer"), (meta.get("params") or {}).get("tokenizer"),
                 (kv.vocab.build_info or {}).get("tokenizer")):
        if isinstance(info, dict):
            return info
    return None


def normalise_keys(kv, keys) -> list:
    """Queries as the vocabulary was built: ``King`` -> ``king`` when its tokenizer lowercased
    (a key found as typed is kept as typed)."""
    info = tokenizer_info(kv)
    keys = list(keys)
    if not info or not info.get("lowercase") or getattr(kv.vocab, "key_type", "str") != "str":
        return keys
    vocab = kv.vocab
    return [k.lower() if isinstance(k, str) and k not in vocab and k.lower() in vocab else k
            for k in keys]


def cmd_neighbors(args) -> int:
    check_positive("k", args.k)
    if args.nprobe is not None:
        check_positive("nprobe", args.nprobe)
    kv = load_vectors(args.file)
    emit_ranked(args, args.keys, kv.neighbors(normalise_keys(kv, args.keys), k=args.k,
                                              approximate=args.approximate,
                                              nprobe=args.nprobe))
    return 0


def cmd_analogy(args) -> int:
    check_positive("k", args.k)
    kv = load_vectors(args.file)
    a, b, c = normalise_keys(kv, [args.a, args.b, args.c])
    res = kv.analogy(a, b, c, k=args.k, method=args.method)
    out = {"question": [args.a, args.b, args.c], "method": args.method,
           "answers": [{"key": n, "score": round(s, 6)} for n, s in res]}
    emit(args, out, f"{args.a} : {args.b} :: {args.c} : " +
         ", ".join(f"{n} ({s:.3f})" for n, s in res))
    return 0


def cmd_vocab(args) -> int:
    from ..vocab import Vocab

    if using_ray(args):
        from ..distributed import count_vocab

        vocab = count_vocab(args.corpus, tokenizer=tokenizer_from(args),
                            min_count=args.min_count, max_size=args.max_size,
                            address=ray_address(args))
    else:
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
    created = not os.path.exists(args.out)
    try:
        report = run_demo(args.out, dim=args.dim, analogies=args.analogies,
                          similarity=args.similarity, echo=not args.json)
    except BaseException:
        if created:  # nothing partial is left: the folder this run made goes with it
            import shutil

            shutil.rmtree(args.out, ignore_errors=True)
        raise
    if args.json:
        emit(args, report)
    return 0
