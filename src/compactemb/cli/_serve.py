"""Commands: milvus push, milvus search (Milvus Lite or a server), embed, search (documents)."""

from __future__ import annotations

from . import common, emit, emit_ranked
from ._core import check_positive


def register(commands, families) -> None:
    from ..milvus import INDEX_TYPES, METRICS

    p = commands.add_parser("milvus", help="push vectors into Milvus (Lite or a server), search")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    def target(q):
        q.add_argument("--uri", required=True,
                       help="a Milvus Lite file (vectors.db) or a server (http://HOST:19530)")
        q.add_argument("--collection", required=True, help="collection name")
        q.add_argument("--token", default=None, help="server credentials (user:password)")

    q = sub.add_parser("push", help="insert a file's vectors (keys and counts as fields)")
    q.add_argument("file", help="any compactemb file with vectors (compressed kinds decoded)")
    target(q)
    q.add_argument("--index", choices=INDEX_TYPES, default="auto",
                   help="auto: flat up to 20k rows, else IVF_PQ for a PQ table on a server, "
                   "IVF_SQ8 for int8/int4, HNSW otherwise")
    q.add_argument("--metric", choices=METRICS, default="cosine")
    q.add_argument("--replace", action="store_true", help="drop the collection first")
    q.add_argument("--resume", action="store_true",
                   help="send only the rows missing from the collection (an interrupted push)")
    q.add_argument("--side", choices=["users", "items"], default=None,
                   help="which half of a factor model (default items)")
    common(q)
    q.set_defaults(func=cmd_milvus_push)

    q = sub.add_parser("search", help="nearest stored keys of stored keys (or of raw vectors)")
    target(q)
    q.add_argument("queries", nargs="*", metavar="QUERY", help="keys stored in the collection")
    q.add_argument("-k", "--k", type=int, default=10)
    q.add_argument("--vector-file", default=None,
                   help="query vectors instead of keys: .npy (n, dim) or text, one per line")
    common(q)
    q.set_defaults(func=cmd_milvus_search)

    p = commands.add_parser("embed", help="document vectors: mean or SIF mean of word vectors")
    p.add_argument("file", help="word vectors (any file with keyed vectors)")
    p.add_argument("texts", help="one text per line, or a TSV with a header (--id-column)")
    p.add_argument("-o", "--out", required=True, help="document vectors (.cemb)")
    p.add_argument("--method", choices=["mean", "sif"], default="mean",
                   help="plain mean, or SIF: words weighted a/(a + p(word))")
    p.add_argument("--sif-a", type=float, default=1e-3, help="SIF's a (default 1e-3)")
    p.add_argument("--remove-first-component", action="store_true",
                   help="remove the documents' first singular direction (SIF's second step)")
    p.add_argument("--id-column", default=None, help="TSV column holding each text's key")
    p.add_argument("--text-column", default=None, help="TSV column holding the text")
    common(p)
    p.set_defaults(func=cmd_embed)

    p = commands.add_parser("search", help="documents closest to a query text")
    p.add_argument("file", help="document vectors from 'compactemb embed'")
    p.add_argument("query", nargs="+", help="query text(s)")
    p.add_argument("-k", "--k", type=int, default=10)
    p.add_argument("--words", default=None,
                   help="word vectors (default: the file recorded at embedding time)")
    p.add_argument("--milvus", default=None, metavar="URI",
                   help="search a Milvus collection of these documents instead")
    p.add_argument("--collection", default=None, help="with --milvus")
    p.add_argument("--token", default=None, help="with --milvus")
    common(p)
    p.set_defaults(func=cmd_search)

    # `recommend FILE USER --milvus URI --collection NAME`: options added to the command that
    # cli._items defines, which keeps handling everything without --milvus
    rec = commands.choices.get("recommend")
    if rec is not None:
        rec.add_argument("--milvus", default=None, metavar="URI",
                         help="score the items in Milvus (pushed with --side items --metric ip)")
        rec.add_argument("--collection", default=None, help="with --milvus")
        rec.add_argument("--token", default=None, help="with --milvus")
        rec.set_defaults(func=_recommend_or_milvus(rec.get_default("func")))


def _quiet_pymilvus() -> None:
    """pymilvus logs every failed RPC with a traceback; the CLI reports the error in one line."""
    import logging

    logging.getLogger("pymilvus").setLevel(logging.CRITICAL + 1)


def _recommend_or_milvus(in_process):
    def cmd_recommend(args) -> int:
        from ..exceptions import InputError

        if not args.milvus:
            if args.collection:
                raise InputError("--collection needs --milvus URI")
            return in_process(args)
        from .. import milvus
        from ..recommend import FactorModel
        from . import load_object

        check_positive("k", args.k)
        _quiet_pymilvus()
        if not args.collection:
            raise InputError("--milvus needs --collection")
        if args.cold_start != "error":
            raise InputError("--cold-start popular is not available with --milvus")
        model = load_object(args.file, FactorModel, "recommender",
                            "train one with 'compactemb train items'")
        res = milvus.recommend(model, args.users, args.milvus, args.collection, args.k,
                               exclude_seen=not args.include_seen, token=args.token)
        emit_ranked(args, args.users, res, field="item")
        return 0

    return cmd_recommend


def cmd_milvus_push(args) -> int:
    from .. import milvus

    _quiet_pymilvus()
    out = milvus.push(args.file, args.uri, args.collection, index=args.index, metric=args.metric,
                      replace=args.replace, side=args.side, token=args.token,
                      resume=args.resume)
    emit(args, out, f"pushed {out['rows']:,} rows x {out['dim']} ({out['vector_type']}, "
         f"{out['bytes_sent'] / 1e6:.1f} MB) into {args.collection} at {args.uri}: "
         f"{out['index_type']} {out['index_params']} {out['metric']}, {out['seconds']:.1f} s")
    return 0


def _read_vector_file(path):
    import numpy as np

    from ..exceptions import InputError

    if str(path).endswith(".npy"):
        v = np.load(path, allow_pickle=False)
    else:
        try:
            v = np.loadtxt(path, dtype=np.float32, ndmin=2)
        except ValueError as exc:
            raise InputError(f"{path}: not a text file of numbers ({exc})") from None
    v = np.atleast_2d(np.asarray(v, dtype=np.float32))
    if v.ndim != 2 or v.shape[0] == 0:
        raise InputError(f"{path}: expected a (n, dim) matrix of query vectors, got {v.shape}")
    return v


def cmd_milvus_search(args) -> int:
    from .. import milvus
    from ..exceptions import InputError

    check_positive("k", args.k)
    _quiet_pymilvus()
    if args.vector_file:
        if args.queries:
            raise InputError("give query keys or --vector-file, not both")
        vecs = _read_vector_file(args.vector_file)
        res = milvus.search_vectors(args.uri, args.collection, vecs, args.k, token=args.token)
        emit_ranked(args, [str(i) for i in range(len(res))], res)
        return 0
    if not args.queries:
        raise InputError("no query: give keys stored in the collection, or --vector-file")
    res = milvus.search(args.uri, args.collection, args.queries, args.k, token=args.token)
    emit_ranked(args, args.queries, res)
    return 0


def cmd_embed(args) -> int:
    from ..docvec import doc_vectors, read_texts
    from ..keyed import KeyedVectors
    from ._core import load_vectors

    kv = load_vectors(args.file)
    if not isinstance(kv, KeyedVectors):  # pragma: no cover - load_vectors always returns one
        raise TypeError(type(kv))
    ids, texts = read_texts(args.texts, id_column=args.id_column, text_column=args.text_column)
    docs = doc_vectors(kv, texts, ids=ids, method=args.method,
                       remove_first_component=args.remove_first_component, sif_a=args.sif_a,
                       words_path=args.file)
    docs.save(args.out)
    empty = docs.meta["docvec"]["empty_texts"]
    out = {"documents": len(docs), "dim": docs.dim, "method": args.method,
           "remove_first_component": args.remove_first_component, "empty_texts": empty,
           "out": args.out}
    emit(args, out, f"{len(docs):,} documents x {docs.dim} ({args.method}"
         f"{', first component removed' if args.remove_first_component else ''}; {empty:,} "
         f"without a known word) -> {args.out}")
    return 0


def cmd_search(args) -> int:
    from ..docvec import embed_query, search_documents
    from ..exceptions import InputError
    from ..keyed import KeyedVectors
    from . import load_object

    check_positive("k", args.k)
    docs = load_object(args.file, KeyedVectors, "document-vector file",
                       "make one with 'compactemb embed'")
    if args.milvus:
        from .. import milvus

        _quiet_pymilvus()
        if not args.collection:
            raise InputError("--milvus needs --collection")
        q = embed_query(docs, args.query, words=args.words)
        res = milvus.search_vectors(args.milvus, args.collection, q, args.k, token=args.token)
    else:
        if args.collection:
            raise InputError("--collection needs --milvus URI")
        res = [search_documents(docs, text, args.k, words=args.words) for text in args.query]
    emit_ranked(args, args.query, res)
    return 0
