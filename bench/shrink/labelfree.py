"""Which label-free quality measure ranks shrink's candidates like the similarity sets?

    nice python bench/shrink/labelfree.py

Skip-gram d=100 (bench/shrink/run.py's cached vectors; run that first). For the 32x and 100x
budgets, every candidate shrink would build for ``max_bytes`` (each family at its largest size
within the budget) is built once and scored by the similarity sets (mean relative Spearman, the
target) and by label-free measures: neighbour recall@10 with queries from the 20,000 most
frequent rows (shrink's old default) or from all rows, 1,000 or 4,000 queries; Spearman of the
cosines of random pairs; Spearman of the cosines of (query, float32 neighbour) pairs plus random
pairs. Prints, per budget, each measure's rank correlation with the target over the candidates
and the target value of the candidate it would pick; writes bench/results/shrink_labelfree.json.
"""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy as np
import run
from scipy.stats import spearmanr

from compactemb.keyed import KeyedVectors
from compactemb.search import search
from compactemb.shrink import (
    _build,
    _families,
    _largest_within,
    estimate_bytes,
    float32_bytes,
    neighbour_recall,
    parse_size,
)

kv = KeyedVectors.load(run.CACHE / "shrink-sg-d100-p0123.cemb")
q = run.Quality(kv)
n = kv.table.n_rows
fixed, knobs = _families(kv)
cands = []
for budget in ("32x", "100x"):
    b = parse_size(budget, float32_bytes(kv))
    for fam in fixed:
        if estimate_bytes(kv, fam.method, fam.options) <= b:
            cands.append((budget, fam.method, fam.options))
    for fam in knobs:
        v = _largest_within(kv, fam, b)
        if v is not None:
            cands.append((budget, fam.method, {**fam.options, fam.knob: v}))

def pair_spearman(ref, n_pairs=20000, pool=None, seed=0):
    rng = np.random.default_rng(seed)
    top = pool or n
    a = rng.integers(0, top, n_pairs)
    b = rng.integers(0, top, n_pairs)

    def cos(t):
        x, y = t.lookup(a), t.lookup(b)
        return (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    truth = cos(ref.table)
    return lambda obj: spearmanr(cos(obj.table), truth)[0]

def neighbour_pairs(ref, n_q=1000, kk=50, seed=0, pool=None):
    """Spearman over (query, j-th float32 neighbour) cosines, j < kk, plus as many random pairs."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(pool or n, n_q, replace=False))
    ids = search(ref.table, ref.table.lookup(rows), k=kk, exclude=[[r] for r in rows]).ids
    a, b = np.repeat(rows, kk), ids.ravel()
    r2 = rng.integers(0, n, a.size)
    a, b = np.concatenate([a, a]), np.concatenate([b, r2])

    def cos(t):
        x, y = t.lookup(a), t.lookup(b)
        return (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    truth = cos(ref.table)
    return lambda obj: spearmanr(cos(obj.table), truth)[0]

measures = {
    "recall top20k q1000 (current)": neighbour_recall(kv),
    "recall top20k q4000": neighbour_recall(kv, n_queries=4000),
    "recall all q1000": neighbour_recall(kv, pool=n),
    "recall all q4000": neighbour_recall(kv, pool=n, n_queries=4000),
    "pair spearman all": pair_spearman(kv),
    "neighbour-pair spearman all": neighbour_pairs(kv),
    "neighbour-pair spearman top20k": neighbour_pairs(kv, pool=20000),
}
rows = []
for budget, method, opts in cands:
    small = _build(kv, method, opts)
    sim = q.measure(small, analogy=False)["rel_spearman"]
    vals = {}
    for name, m in measures.items():
        v = m(small)
        vals[name] = float(np.mean(list(v.values()))) if isinstance(v, dict) else float(v)
    rows.append({"budget": budget, "method": method, "options": opts, "sim": sim, **vals})
    print(time.strftime("%T"), budget, method, opts, round(sim, 3),
          {k: round(v, 3) for k, v in vals.items()}, flush=True)
    json.dump(rows, open(run.RESULTS / "shrink_labelfree.json", "w"), indent=1, default=float)
for budget in ("32x", "100x"):
    sub = [r for r in rows if r["budget"] == budget]
    best = max(sub, key=lambda r: r["sim"])
    print(budget, "similarity pick:", best["method"], best["options"], round(best["sim"], 3))
    for name in measures:
        rho = spearmanr([r[name] for r in sub], [r["sim"] for r in sub])[0]
        pick = max(sub, key=lambda r: r[name])
        print(f"  {name}: rank corr {rho:.2f}; picks {pick['method']} {pick['options']} -> "
              f"sim {pick['sim']:.3f}")
