"""Commands: train items, eval items, recommend, split (user/item embeddings from interactions)."""

from __future__ import annotations

import os
import sys
from functools import partial

from ..distributed._cli import add_ray_options, check_ray_method, ray_address, using_ray
from . import common, deprecated_alias, emit, emit_ranked, load_object
from ._core import check_positive

# --method -> trainer function(args, interactions) -> FactorModel; others add themselves
ITEM_METHODS = {}

_METHOD_HELP = ("svd: PureSVD (truncated SVD of the user x item matrix); als: implicit-feedback "
                "ALS (conjugate gradient, or --solver cholesky); bpr: Bayesian personalised "
                "ranking (lock-free SGD)")


def add_format_options(p) -> None:
    """How an interactions file is read (see compactemb.interactions_io.read_interactions)."""
    from ..interactions_io import FORMATS

    g = p.add_argument_group("input format")
    g.add_argument("--format", default="auto", choices=FORMATS,
                   help="auto: by name (u.data/*.base -> movielens, *.csv -> csv, *.tsv/*.dat "
                   "-> tsv, *.parquet -> parquet, else whitespace/tab/comma text)")
    g.add_argument("--sep", help="field separator (default: the format's)")
    g.add_argument("--header", dest="header", action="store_true", default=None,
                   help="the first row names the columns (default: detected)")
    g.add_argument("--no-header", dest="header", action="store_false")
    g.add_argument("--user-col", default="0", help="user column: 0-based position or name")
    g.add_argument("--item-col", default="1", help="item column: 0-based position or name")
    g.add_argument("--weight-col", default="auto",
                   help="weight column (position or name), 'auto' (3rd column or a "
                   "rating/weight/count header) or 'none' (all weights 1)")
    g.add_argument("--time-col", default="auto",
                   help="timestamp column (position or name), 'auto' or 'none'")
    g.add_argument("--on-bad-rows", choices=("raise", "skip"), default="raise",
                   help="a malformed row: stop naming its line (raise), or leave it out and "
                   "say how many were left out (skip)")


def _col(value):
    if value is None or value.lower() == "none":
        return None
    if value == "auto":
        return "auto"
    return int(value) if value.isdigit() else value


def read_from_args(path, args, **kw):
    from ..interactions_io import read_interactions

    inter = read_interactions(path, format=args.format, sep=args.sep, header=args.header,
                              user_col=_col(args.user_col), item_col=_col(args.item_col),
                              weight_col=_col(args.weight_col), time_col=_col(args.time_col),
                              on_bad_rows=getattr(args, "on_bad_rows", "raise"), **kw)
    if inter.skipped_rows:
        n = len(inter.skipped_rows)
        print(f"compactemb: note: left out {n:,} bad row{'s' if n > 1 else ''} of {path}; "
              f"first: {inter.skipped_rows[0]}", file=sys.stderr)
    return inter


def register(commands, families) -> None:
    p = families["train"].add_parser("items", help="user and item vectors from interactions")
    p.add_argument("interactions", help="interactions file (text, CSV/TSV, MovieLens, Parquet); "
                   "with --ray also a folder or glob of Parquet/CSV shards read on the cluster")
    p.add_argument("-o", "--out", required=True, help="output file (.cemb)")
    p.add_argument("--method", default="svd", choices=sorted(ITEM_METHODS) or ["svd"],
                   help=_METHOD_HELP)
    p.add_argument("--dim", type=int, default=64,
                   help="factors per user and item (bpr stores one more column: the item bias)")
    p.add_argument("--seed", type=int, default=0, help="random seed (random_state)")
    p.add_argument("--binary", action="store_true", help="ignore weights (svd)")
    p.add_argument("--epochs", type=int,
                   help="ALS iterations (default 15) or BPR epochs (default 100)")
    deprecated_alias(p, "--iterations", "--epochs")
    p.add_argument("--regularization", type=float, default=0.01, help="als, bpr")
    p.add_argument("--alpha", type=float, default=1.0,
                   help="confidence scale (als): c = 1 + alpha * w, see --weighting")
    p.add_argument("--weighting", default="linear", choices=["linear", "log", "binary", "none"],
                   help="weights -> confidences (als): linear 1+alpha*w, log 1+alpha*log(1+w), "
                   "binary 1+alpha, none w")
    p.add_argument("--solver", default="cg", choices=["cg", "cholesky"], help="als")
    p.add_argument("--cg-steps", type=int, default=3, help="CG steps per row (als)")
    p.add_argument("--learning-rate", type=float, default=0.01, help="bpr")
    p.add_argument("--negatives", default="popularity", choices=["popularity", "uniform"],
                   help="how bpr draws negative items: by popularity (implicit) or uniformly")
    p.add_argument("--threads", type=int, help="threads (default: all cores)")
    add_ray_options(p, "train als", workers=True)
    add_format_options(p)
    common(p)
    p.set_defaults(func=cmd_train_items)

    p = families["eval"].add_parser("items", help="ranking metrics of a recommender on a "
                                    "held-out test file")
    p.add_argument("file", help="a trained model (.cemb from 'train items')")
    p.add_argument("--test", required=True, help="held-out interactions (same formats as "
                   "training); users and items the model does not know are skipped")
    p.add_argument("-k", "--k", type=int, default=10, help="cut-off of the metrics")
    p.add_argument("--include-seen", action="store_true",
                   help="do not exclude the training interactions from recommendations")
    add_format_options(p)
    common(p)
    p.set_defaults(func=cmd_eval_items)

    p = commands.add_parser("recommend", help="top-k items for users of a trained model")
    p.add_argument("file", help="a trained model (.cemb from 'train items')")
    p.add_argument("users", nargs="*", metavar="USER", help="raw user IDs (or --all)")
    p.add_argument("-k", "--k", type=int, default=10)
    p.add_argument("--include-seen", action="store_true",
                   help="also recommend items the user interacted with in training")
    p.add_argument("--cold-start", choices=["error", "popular"], default="error",
                   help="unknown users: an error, or the most popular items")
    p.add_argument("--all", action="store_true",
                   help="every user of the model, written to -o OUT in bounded memory")
    p.add_argument("-o", "--out", help="with --all: output file, .parquet (needs pyarrow) or "
                   "tab-separated text (user, rank, item, score)")
    p.add_argument("--batch", type=int, default=4096,
                   help="with --all: users ranked at once (bounds memory)")
    add_ray_options(p, "with --all: rank")
    common(p)
    p.set_defaults(func=cmd_recommend)

    p = commands.add_parser("split", help="split interactions into train and test files")
    p.add_argument("interactions")
    p.add_argument("--method", default="random", choices=["random", "leave-k-out", "temporal"],
                   help="random per-user hold-out, leave-k-out per user, or the latest "
                   "interactions of each user (needs timestamps)")
    p.add_argument("--test-fraction", type=float, default=0.2, help="random, temporal")
    p.add_argument("--leave-k", type=int, default=1, help="leave-k-out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--train-out", required=True)
    p.add_argument("--test-out", required=True)
    add_format_options(p)
    common(p)
    p.set_defaults(func=cmd_split)


def _train_svd(args, interactions):
    from ..train import PureSVD

    return PureSVD(dim=args.dim, binary=args.binary, random_state=args.seed) \
        .fit(interactions).model_


def _train_als(args, interactions):
    from ..train import ALS

    if using_ray(args):
        from ..distributed import RayALS

        ALS = partial(RayALS, address=ray_address(args), n_workers=args.ray_workers)  # noqa: N806
    return ALS(args.dim, regularization=args.regularization, alpha=args.alpha,
               weighting=args.weighting, epochs=15 if args.epochs is None
               else args.epochs, solver=args.solver, cg_steps=args.cg_steps,
               n_threads=args.threads, random_state=args.seed).fit(interactions).model_


def _train_bpr(args, interactions):
    from ..train import BPR

    return BPR(args.dim, learning_rate=args.learning_rate, regularization=args.regularization,
               epochs=100 if args.epochs is None else args.epochs,
               negatives=args.negatives, n_threads=args.threads,
               random_state=args.seed).fit(interactions).model_


ITEM_METHODS["svd"] = _train_svd
ITEM_METHODS["als"] = _train_als
ITEM_METHODS["bpr"] = _train_bpr


def cmd_train_items(args) -> int:
    check_positive("dim", args.dim)
    check_positive("threads", args.threads)
    check_ray_method(args, ("als",))
    if using_ray(args) and _shard_source(args.interactions):  # read on the cluster
        inter = _shards_from_args(args.interactions, args)
    else:
        inter = read_from_args(args.interactions, args)
    model = ITEM_METHODS[args.method](args, inter)
    model.save(args.out)
    out = {"output": args.out, "method": args.method, "users": len(model.user_vocab),
           "items": len(model.item_vocab),
           "interactions": inter.nnz if hasattr(inter, "nnz") else model.meta["n_interactions"],
           "dim": model.dim,
           "file_bytes": os.path.getsize(args.out),
           "timings_s": model.meta.get("timings_s")}
    bias = " (the last column is the item bias; users hold 1 there)" \
        if model.meta.get("bias_column") is not None else ""
    emit(args, out, f"{out['users']:,} users, {out['items']:,} items x {model.dim} "
         f"({args.method}) -> {args.out}{bias}")
    return 0


def _shard_source(path) -> bool:
    from ..distributed._shards import is_shard_source

    return is_shard_source(path)


def _shards_from_args(source, args):
    """A folder or glob of Parquet/CSV shards, read as a Ray Dataset by ``train items --ray``."""
    from ..distributed._shards import InteractionShards
    from ..exceptions import InputError

    if args.format not in ("auto", "csv", "tsv", "parquet") or args.sep is not None:
        raise InputError("shards (a folder or a glob) are read on the Ray cluster as Parquet, "
                         "CSV or TSV: --format auto, csv, tsv or parquet, and no --sep")
    if _col(args.time_col) not in (None, "auto"):
        raise InputError("--time-col is not read from shards (ALS uses no timestamps)")
    return InteractionShards(source, format=args.format, user_col=_col(args.user_col),
                             item_col=_col(args.item_col), weight_col=_col(args.weight_col),
                             header=args.header is not False)


def _load_model(path):
    from ..recommend import FactorModel

    return load_object(path, FactorModel, "recommender",
                       "train one with 'compactemb train items'")


def cmd_eval_items(args) -> int:
    from ..evaluation import ranking_metrics
    from ..exceptions import InputError

    check_positive("k", args.k)
    model = _load_model(args.file)
    test = read_from_args(args.test, args)
    aligned, dropped = test.reindex(model.user_vocab, model.item_vocab)
    if aligned.nnz == 0:
        raise InputError(f"{args.test}: none of its {test.nnz} interactions has a user and an "
                         f"item known to the model {args.file}")
    out = ranking_metrics(model, aligned, k=args.k, exclude_seen=not args.include_seen)
    out.update(test_interactions=aligned.nnz, skipped_unknown=dropped)
    k = args.k
    text = ", ".join(f"{name} {out[name]:.4f}" for name in
                     (f"precision@{k}", f"recall@{k}", f"ndcg@{k}", f"map@{k}", "auc"))
    emit(args, out, f"{text} ({out['users']:,} users; {dropped:,} test interactions with an "
         "unknown user or item skipped)")
    return 0


def cmd_recommend(args) -> int:
    from ..exceptions import InputError

    check_positive("k", args.k)
    if using_ray(args) and not args.all:
        raise InputError("--ray ranks every user: use it with --all -o OUT")
    if args.all or args.out:
        return _recommend_all(args)
    if not args.users:
        raise InputError("give user IDs, or --all -o OUT for every user")
    model = _load_model(args.file)
    res = model.recommend(args.users, k=args.k, exclude_seen=not args.include_seen,
                          cold_start=args.cold_start)
    emit_ranked(args, args.users, res, field="item")
    return 0


def _recommend_all(args) -> int:
    from ..batch_recommend import write_recommendations
    from ..exceptions import InputError

    if not (args.all and args.out):
        raise InputError("--all and -o OUT go together: every user's recommendations to a file")
    if args.users:
        raise InputError("--all ranks every user: give no user IDs with it")
    check_positive("batch", args.batch)
    model = _load_model(args.file)
    if using_ray(args):  # batches ranked on the cluster, a window ahead of the writer
        from ..distributed._batch import ShardedRanker
        from ..distributed._cluster import ray_session

        with ray_session(ray_address(args)) as ray:
            out = write_recommendations(ShardedRanker(model, ray), args.out, k=args.k,
                                        exclude_seen=not args.include_seen, batch=args.batch)
    else:
        out = write_recommendations(model, args.out, k=args.k,
                                    exclude_seen=not args.include_seen, batch=args.batch)
    emit(args, out, f"top {args.k} items for {out['users']:,} users ({out['rows']:,} rows) "
         f"-> {args.out}")
    return 0


def cmd_split(args) -> int:
    from ..interactions import leave_k_out_split, temporal_split, train_test_split

    inter = read_from_args(args.interactions, args)
    if args.method == "random":
        train, test = train_test_split(inter, args.test_fraction, random_state=args.seed)
    elif args.method == "leave-k-out":
        train, test = leave_k_out_split(inter, args.leave_k, random_state=args.seed)
    else:
        train, test = temporal_split(inter, args.test_fraction)
    train.write(args.train_out)
    test.write(args.test_out)
    out = {"method": args.method, "train": args.train_out, "test": args.test_out,
           "train_interactions": train.nnz, "test_interactions": test.nnz,
           "test_users": int((test.matrix.getnnz(axis=1) > 0).sum())}
    emit(args, out, f"{train.nnz:,} train and {test.nnz:,} test interactions "
         f"({out['test_users']:,} test users) -> {args.train_out}, {args.test_out}")
    return 0
