"""Shrink on request beyond word vectors (issue 15 part 6): a recommender and a classifier.

    nice python bench/shrink/apps.py recsys [--dataset lastfm] [--dim 64] [--no-faiss]
    nice python bench/shrink/apps.py classifier [--dim 100]

recsys: implicit ALS (``compactemb.train.ALS``, 15 epochs, regularisation 0.01, alpha 1, log
confidences for Last.fm play counts, linear for MovieLens) on a seeded per-user 80/20 hold-out
of ../shared/data, users and items renumbered by decreasing training count (so pruned and tiered
families apply: the most active users and most played items come first). The held-out users are
split in two halves: ``shrink`` chooses on the ndcg@10 of the first half (validation) and every
row reports the ndcg@10 of the second half (test), so picks are not tuned on what reports them.
Rows: a frontier of fixed methods, shrink's picks at 8x, 32x and 100x (and the label-free
default at 32x), and FAISS PQ (M sub-quantisers x nbits, both tables, codebooks counted) against
shrink's pick within the same bytes. Writes bench/results/shrink_recsys.md and .json.

classifier: ``TextClassifier`` on SST-2 (dim 100, word bigrams, 2,000,000 buckets, 5 epochs, lr
0.1, as bench/classify). ``shrink`` chooses on dev-set accuracy (872 sentences), every row
reports test accuracy (1,821 sentences). Rows: fixed methods (float16, int8, int4, bit2, bit1,
with rotations), pruned+<method> at a few cut-offs, shrink's picks at 8x, 32x and 100x. Writes
bench/results/shrink_classifier.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("COMPACTEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
BUDGETS = ("8x", "32x", "100x")
DATASETS = {"lastfm": ("lastfm-hetrec2011-2k/user_artists.dat", "log"),
            "movielens-100k": ("movielens-100k/u.data", "linear")}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def _machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs (shared), load {os.getloadavg()[0]:.1f}"


# -- recommender ----------------------------------------------------------------------------------

def _by_count(m):
    """Permutations putting rows / columns of a sparse matrix in decreasing count order."""
    rows = np.argsort(-np.diff(m.indptr), kind="stable")
    cols = np.argsort(-np.bincount(m.indices, minlength=m.shape[1]), kind="stable")
    return rows, cols


def recsys_data(dataset: str, dim: int):
    import scipy.sparse as sp

    from compactemb.interactions import read_interactions, train_test_split
    from compactemb.train import ALS

    path, weighting = DATASETS[dataset]
    inter = read_interactions(DATA / path)
    train, test = train_test_split(inter, 0.2, random_state=0)
    rows, cols = _by_count(train.matrix)
    mtrain = sp.csr_matrix(train.matrix)[rows][:, cols]
    mtest = sp.csr_matrix(test.matrix)[rows][:, cols]
    t0 = time.perf_counter()
    model = ALS(dim, regularization=0.01, alpha=1.0, weighting=weighting, epochs=15,
                n_threads=2, random_state=0).fit(mtrain).model_
    secs = time.perf_counter() - t0
    users = np.flatnonzero(np.diff(mtest.indptr))
    rng = np.random.default_rng(0)
    valid_users = np.sort(rng.choice(users, users.size // 2, replace=False))
    keep = np.zeros(mtest.shape[0], bool)
    keep[valid_users] = True
    valid = sp.diags(keep.astype(np.float32)) @ mtest
    held = sp.diags((~keep).astype(np.float32)) @ mtest
    info = {"dataset": dataset, "users": int(mtrain.shape[0]), "items": int(mtrain.shape[1]),
            "train_nnz": int(mtrain.nnz), "test_nnz": int(mtest.nnz), "dim": dim,
            "weighting": weighting, "fit_seconds": round(secs, 1),
            "valid_users": int(valid_users.size), "test_users": int(users.size - valid_users.size)}
    return model, sp.csr_matrix(valid), sp.csr_matrix(held), info


def _recsys_row(label, obj, f32, test_ev, base):
    from compactemb.shrink import table_bytes

    size = table_bytes(obj)
    ndcg = test_ev(obj)["ndcg@10"]
    return {"label": label, "bytes": size, "ratio": f32 / size, "ndcg@10": ndcg,
            "rel_ndcg": ndcg / base}


def faiss_pq_model(model, m: int, nbits: int):
    """Both tables through FAISS PQ (M x nbits); returns (decoded FactorModel, bytes)."""
    import faiss

    from compactemb.recommend import FactorModel
    from compactemb.tables import DenseTable

    tables, size = [], 0
    for t in (model.user_table, model.item_table):
        x = np.ascontiguousarray(t.to_dense().weights, dtype=np.float32)
        pq = faiss.ProductQuantizer(x.shape[1], m, nbits)
        pq.cp.seed = 0
        pq.train(x)
        codes = pq.compute_codes(x)
        tables.append(DenseTable(pq.decode(codes)))
        size += codes.nbytes + pq.centroids.size() * 4
    return FactorModel(model.user_vocab, model.item_vocab, *tables, seen=model._seen), size


def run_recsys(args) -> dict:
    from compactemb.shrink import _build, float32_bytes, ranking_evaluator, shrink

    model, valid, held, info = recsys_data(args.dataset, args.dim)
    log("recsys", info)
    f32 = float32_bytes(model)
    valid_ev, test_ev = ranking_evaluator(valid), ranking_evaluator(held)
    base = test_ev(model)["ndcg@10"]
    info["float32_ndcg@10"] = base
    log(f"float32 test ndcg@10 {base:.4f}")
    dim = model.dim
    frontier = []
    settings = [("float16", "float16", {}), ("int8", "int8", {}), ("int4", "int4", {}),
                ("bit2", "bit2", {}), ("bit2 scale=row", "bit2", {"scale": "row"}),
                ("bit1", "bit1", {}), ("bit1 scale=row", "bit1", {"scale": "row"}),
                ("bit1 rotation", "bit1", {"rotation": True}),
                ("pq M=dim/4", "pq", {"n_subvectors": dim // 4}),
                ("tiered+bit2 keep 30%", "tiered+bit2", {"keep": 0.3}),
                ("tiered+bit2 scale=row keep 30%", "tiered+bit2", {"keep": 0.3, "scale": "row"}),
                ("pruned+bit2 keep 30% (hash fallback)", "pruned+bit2", {"keep": 0.3})]
    for label, method, opts in settings:
        row = _recsys_row(label, _build(model, method, opts), f32, test_ev, base)
        frontier.append({**row, "method": method, "options": opts})
        log(f"frontier {label}: {row['ratio']:.1f}x rel ndcg {row['rel_ndcg']:.3f}")
    picks = []
    runs = [(b, valid_ev, "ndcg@10 (validation users)") for b in BUDGETS]
    runs.append(("32x", None, "recall@10 (label-free default)"))
    for budget, ev, name in runs:
        r = shrink(model, max_bytes=budget, evaluator=ev)
        row = _recsys_row(f"shrink {budget}", r.obj, f32, test_ev, base)
        picks.append({**row, "budget": budget, "evaluator": name, "met": r.met,
                      "method": r.method, "options": r.options, "shrink_quality": r.quality,
                      "candidates_tried": r.candidates_tried, "seconds": round(r.seconds, 1)})
        log(f"shrink {budget} ({name}): {r.message}; test rel ndcg {row['rel_ndcg']:.3f}")
    peers = []
    if not args.no_faiss:
        try:
            import faiss  # noqa: F401
        except ImportError:
            log("faiss not installed: skipping the FAISS comparison")
        else:
            for m, nbits in ((dim // 4, 8), (dim // 8, 8), (dim // 8, 4), (dim // 16, 4)):
                t0 = time.perf_counter()
                dec, size = faiss_pq_model(model, m, nbits)
                secs = time.perf_counter() - t0
                theirs = _recsys_row(f"faiss PQ M={m} nbits={nbits}", dec, f32, test_ev, base)
                theirs["bytes"], theirs["ratio"] = size, f32 / size
                r = shrink(model, max_bytes=size, evaluator=valid_ev)
                ours = _recsys_row("shrink", r.obj, f32, test_ev, base)
                peers.append({"peer": theirs["label"], "bytes": size, "ratio": f32 / size,
                              "peer_seconds": round(secs, 1), "peer_rel_ndcg": theirs["rel_ndcg"],
                              "ours": f"{r.method} {r.options}", "ours_bytes": r.bytes,
                              "ours_rel_ndcg": ours["rel_ndcg"]})
                log(f"{theirs['label']} {f32 / size:.1f}x: {theirs['rel_ndcg']:.3f} vs shrink "
                    f"{ours['rel_ndcg']:.3f} ({r.method})")
    return {"machine": _machine(), "info": info, "frontier": frontier, "shrink": picks,
            "faiss": peers}


def recsys_markdown(res: dict) -> str:
    i = res["info"]
    out = ["# Shrink on request: a recommender (issue 15 part 6)", "",
           f"Generated by `bench/shrink/apps.py recsys` on {res['machine']}. ALS d={i['dim']} on "
           f"{i['dataset']} ({i['users']:,} users x {i['items']:,} items, {i['train_nnz']:,} "
           f"training and {i['test_nnz']:,} held-out interactions, {i['weighting']} "
           f"confidences, fit {i['fit_seconds']} s). ndcg@10 excludes training items. shrink "
           f"chooses on the held-out items of {i['valid_users']:,} validation users; every row "
           f"reports the ndcg@10 of the other {i['test_users']:,} users (float32: "
           f"{i['float32_ndcg@10']:.4f}); rel. = / float32's. Bytes: both tables.", "",
           "## Frontier", "", "| setting | bytes | ratio | ndcg@10 | rel. |",
           "|---|---|---|---|---|"]
    for r in res["frontier"]:
        out.append(f"| {r['label']} | {r['bytes']:,} | {r['ratio']:.1f}x | {r['ndcg@10']:.4f} | "
                   f"{r['rel_ndcg']:.3f} |")
    out += ["", "## What shrink picks", "",
            "| budget | evaluator | met | pick | ratio | test ndcg@10 | rel. | candidates | "
            "seconds |", "|---|---|---|---|---|---|---|---|---|"]
    for r in res["shrink"]:
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items())
        out.append(f"| {r['budget']} | {r['evaluator']} | {'yes' if r['met'] else 'no'} | "
                   f"{r['method']} {opts} | {r['ratio']:.1f}x | {r['ndcg@10']:.4f} | "
                   f"{r['rel_ndcg']:.3f} | {r['candidates_tried']} | {r['seconds']} |")
    if res["faiss"]:
        out += ["", "## FAISS PQ at equal bytes (ours = shrink's pick within the peer's bytes)",
                "", "| peer | ratio | peer rel. ndcg | ours | ours rel. ndcg |",
                "|---|---|---|---|---|"]
        for r in res["faiss"]:
            out.append(f"| {r['peer']} | {r['ratio']:.1f}x | {r['peer_rel_ndcg']:.3f} | "
                       f"{r['ours']} | {r['ours_rel_ndcg']:.3f} |")
    return "\n".join(out) + "\n"


# -- classifier -----------------------------------------------------------------------------------

def run_classifier(args) -> dict:
    from compactemb._progress import set_quiet
    from compactemb.labelled import read_labelled
    from compactemb.shrink import _build, accuracy_evaluator, float32_bytes, shrink, table_bytes
    from compactemb.train import TextClassifier

    set_quiet(True)
    sst = DATA / "sst2"
    dev, test = read_labelled(sst / "dev.tsv"), read_labelled(sst / "test.tsv")
    t0 = time.perf_counter()
    clf = TextClassifier(dim=args.dim, ngrams=2, n_buckets=2_000_000, epochs=5,
                         learning_rate=0.1, min_count=1, n_threads=2,
                         random_state=0).fit_file(sst / "train.tsv")
    info = {"rows": clf.n_rows, "words": clf.n_words, "dim": clf.dim,
            "fit_seconds": round(time.perf_counter() - t0, 1)}
    f32 = float32_bytes(clf)
    dev_ev, test_ev = accuracy_evaluator(*dev), accuracy_evaluator(*test)
    base = test_ev(clf)["accuracy"]
    info["float32_accuracy"], info["float32_dev_accuracy"] = base, dev_ev(clf)["accuracy"]
    log("classifier", info)

    def row(label, obj, **extra):
        size = table_bytes(obj)
        acc = test_ev(obj)["accuracy"]
        return {"label": label, "bytes": size, "ratio": f32 / size, "accuracy": acc,
                "rel_accuracy": acc / base, **extra}

    n = clf.n_rows
    settings = [("float16", "float16", {}), ("int8", "int8", {}), ("int4", "int4", {}),
                ("bit2", "bit2", {}), ("bit2 rotation", "bit2", {"rotation": True}),
                ("bit1", "bit1", {}), ("bit1 rotation", "bit1", {"rotation": True}),
                ("pq M=dim/2", "pq", {}),
                ("pruned+int4 keep 25%", "pruned+int4", {"keep": n // 4}),
                ("pruned+bit2 keep 50%", "pruned+bit2", {"keep": n // 2}),
                ("pruned+int4 keep 6%", "pruned+int4", {"keep": n * 6 // 100}),
                ("pruned+bit2 keep 12%", "pruned+bit2", {"keep": n * 12 // 100}),
                ("pruned+bit1 keep 25%", "pruned+bit1", {"keep": n // 4})]
    frontier = []
    for label, method, opts in settings:
        t0 = time.perf_counter()
        small = _build(clf, method, opts)
        frontier.append(row(label, small, method=method, options=opts,
                            seconds=round(time.perf_counter() - t0, 1)))
        log(f"frontier {label}: {frontier[-1]['ratio']:.1f}x test accuracy "
            f"{frontier[-1]['accuracy']:.4f}")
    picks = []
    for budget in BUDGETS:
        r = shrink(clf, max_bytes=budget, evaluator=dev_ev)
        picks.append(row(f"shrink {budget}", r.obj, budget=budget, met=r.met, method=r.method,
                         options=r.options, dev_quality=r.quality,
                         candidates_tried=r.candidates_tried, seconds=round(r.seconds, 1)))
        log(f"shrink {budget}: {r.message}; test accuracy {picks[-1]['accuracy']:.4f}")
    return {"machine": _machine(), "info": info, "frontier": frontier, "shrink": picks}


def classifier_markdown(res: dict) -> str:
    i = res["info"]
    out = ["# Shrink on request: a classifier (issue 15 part 6)", "",
           f"Generated by `bench/shrink/apps.py classifier` on {res['machine']}. TextClassifier "
           f"on SST-2 (dim {i['dim']}, word bigrams, 2M buckets, 5 epochs; {i['rows']:,} input "
           f"rows, {i['words']:,} words; fit {i['fit_seconds']} s). Accuracy on the 1,821 test "
           f"sentences (float32 {i['float32_accuracy']:.4f}); shrink chooses on the 872 dev "
           f"sentences (float32 {i['float32_dev_accuracy']:.4f}). pruned keeps the rows of "
           "highest norm x sqrt(use in training) and drops the others (FastText.zip, no "
           "retraining here). Bytes: the input table.", "",
           "## Frontier", "", "| setting | bytes | ratio | test accuracy | rel. |",
           "|---|---|---|---|---|"]
    for r in res["frontier"]:
        out.append(f"| {r['label']} | {r['bytes']:,} | {r['ratio']:.1f}x | {r['accuracy']:.4f} "
                   f"| {r['rel_accuracy']:.3f} |")
    out += ["", "## What shrink picks (dev accuracy as the evaluator)", "",
            "| budget | met | pick | ratio | test accuracy | rel. | candidates | seconds |",
            "|---|---|---|---|---|---|---|---|"]
    for r in res["shrink"]:
        opts = ", ".join(f"{k}={v}" for k, v in r["options"].items())
        out.append(f"| {r['budget']} | {'yes' if r['met'] else 'no'} | {r['method']} {opts} | "
                   f"{r['ratio']:.1f}x | {r['accuracy']:.4f} | {r['rel_accuracy']:.3f} | "
                   f"{r['candidates_tried']} | {r['seconds']} |")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("what", choices=["recsys", "classifier"])
    ap.add_argument("--dataset", default="lastfm", choices=sorted(DATASETS))
    ap.add_argument("--dim", type=int, default=None, help="recsys 64, classifier 100")
    ap.add_argument("--no-faiss", action="store_true")
    args = ap.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.what == "recsys":
        args.dim = args.dim or 64
        res, name, md = run_recsys(args), "shrink_recsys", recsys_markdown
    else:
        args.dim = args.dim or 100
        res, name, md = run_classifier(args), "shrink_classifier", classifier_markdown
    (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=1, default=float))
    (RESULTS / f"{name}.md").write_text(md(res))
    log("wrote", RESULTS / f"{name}.md")


if __name__ == "__main__":
    main()
