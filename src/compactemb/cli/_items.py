"""Commands: train items (user/item embeddings from interactions)."""

from __future__ import annotations

import os

from . import common, emit
from ._core import check_positive

# --method -> trainer function(args, interactions) -> FactorModel; others add themselves
ITEM_METHODS = {}


def register(commands, families) -> None:
    p = families["train"].add_parser("items", help="user and item vectors from interactions")
    p.add_argument("interactions", help="'user item [weight]' rows (whitespace, tab or comma)")
    p.add_argument("-o", "--out", required=True, help="output file (.cemb)")
    p.add_argument("--method", default="svd", choices=sorted(ITEM_METHODS) or ["svd"],
                   help="svd: PureSVD (truncated SVD of the user x item matrix)")
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--binary", action="store_true", help="ignore weights (svd)")
    common(p)
    p.set_defaults(func=cmd_train_items)


def _train_svd(args, interactions):
    from ..train import PureSVD

    return PureSVD(dim=args.dim, binary=args.binary, random_state=args.seed) \
        .fit(interactions).model_


ITEM_METHODS["svd"] = _train_svd


def cmd_train_items(args) -> int:
    from ..interactions import read_interactions

    check_positive("dim", args.dim)
    inter = read_interactions(args.interactions)
    model = ITEM_METHODS[args.method](args, inter)
    model.save(args.out)
    out = {"output": args.out, "method": args.method, "users": len(model.user_vocab),
           "items": len(model.item_vocab), "interactions": inter.nnz, "dim": model.dim,
           "file_bytes": os.path.getsize(args.out)}
    emit(args, out, f"{out['users']:,} users, {out['items']:,} items x {model.dim} "
         f"({args.method}) -> {args.out}")
    return 0
