"""Whole-process speed and memory at the seed's scale (issue 11): compactemb against implicit.

    nice python bench/scale/run.py [--scale 1.0] [--threads 2] [--skip seed csv text]

Three jobs, each side in its own process (so each peak RSS is its own), ours and the peer in
one run:

* **seed**: a synthetic power-law log the benchmark generates (1M users, 100K items, 16M rows
  at ``--scale 1``; raw user and item IDs are large, non-contiguous integers), given as numpy
  arrays saved to ``.npy`` files that both sides load. Phases: indexing (raw IDs -> a CSR
  matrix: ours ``Interactions.from_arrays``, implicit ``np.unique`` + scipy), training (ALS,
  50 factors, 3 iterations, conjugate gradient, ``--threads``), recommending 10,000 users
  (top 10, seen items excluded, raw item IDs back). Our numba kernels are compiled or loaded
  from numba's cache by a tiny fit first, reported as ``warmup_s`` and not in the phases.
* **csv**: a 3M-line CSV log (60k users, 20k items, ``user,item,rating,timestamp``), whole
  process from the shell: ``compactemb train items --method als --dim 64 --epochs 15``
  against a script that reads it with pyarrow, indexes with ``np.unique`` and trains
  implicit's ALS with the same parameters.
* **text**: counting the tokens of the Gutenberg 16M corpus, part 0 (4.2M tokens, ``.xz``):
  ``compactemb vocab`` (this code), the same command on the code before issue 11 (``git
  archive`` of ``--before``), and gensim's ``build_vocab`` on ``LineSentence`` (whole
  process each, and the in-process time after imports).

Writes bench/results/scale.json, bench/results/scale.md and bench/results/scale_phases.png.
BLAS is limited to one thread in every process (implicit's advice); both libraries run their
own ``--threads`` threads.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("COMPACTEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))
RESULTS = ROOT / "bench" / "results"
GUTENBERG = DATA / "gutenberg-en-16m" / "gutenberg_en_part0.txt.xz"
BEFORE = "1b0c7a8"  # the last commit before issue 11's changes
# single-threaded BLAS in every process: implicit asks for it (it warns otherwise: its own
# threads would fight BLAS's), and on 2 cores OpenBLAS's spinning threads slow our parallel
# kernels too; both libraries parallelise themselves (our recommend: one BLAS per thread)
PEER_ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1"}
ENV = PEER_ENV


def peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- data -----------------------------------------------------------------------------------------

def make_seed_log(folder: Path, scale: float, seed: int = 0) -> dict:
    """Power-law users (exponent 0.8) and items (1.0) with raw IDs ``rank * prime + offset``."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_users, n_items = int(1_000_000 * scale), int(100_000 * scale)
    n_rows = int(16_000_000 * scale)

    def power_law_ranks(n, exponent, size):
        cdf = np.cumsum(np.arange(1, n + 1, dtype=np.float64) ** -exponent)
        cdf /= cdf[-1]
        return np.minimum(np.searchsorted(cdf, rng.random(size)), n - 1)

    users = power_law_ranks(n_users, 0.8, n_rows)
    items = power_law_ranks(n_items, 1.0, n_rows)
    perm_u, perm_i = rng.permutation(n_users), rng.permutation(n_items)  # popularity != order
    np.save(folder / "users.npy", perm_u[users].astype(np.int64) * 1_000_003 + 10**9)
    np.save(folder / "items.npy", perm_i[items].astype(np.int64) * 7_919 + 5 * 10**8)
    return {"users": n_users, "items": n_items, "rows": n_rows}


def make_csv_log(path: Path, scale: float, seed: int = 0) -> dict:
    import numpy as np

    rng = np.random.default_rng(seed)
    n = int(3_000_000 * scale)
    users = rng.integers(0, int(60_000 * scale), n) * 17 + 100_003
    items = (rng.zipf(1.3, n) % int(20_000 * scale)) * 13 + 7
    with open(path, "w") as f:
        f.write("user,item,rating,timestamp\n")
        np.savetxt(f, np.stack([users, items, rng.integers(1, 6, n),
                                rng.integers(1_500_000_000, 1_600_000_000, n)], 1),
                   fmt="%d", delimiter=",")
    return {"rows": n}


# -- the jobs, each run in its own process ---------------------------------------------

class Phases:
    """Wall and CPU seconds (all threads of the process) of named phases."""

    def __init__(self):
        self.wall, self.cpu = {}, {}

    def __call__(self, name):
        phases = self

        class _Timer:
            def __enter__(self):
                self.t, self.c = time.perf_counter(), time.process_time()

            def __exit__(self, *exc):
                phases.wall[name] = time.perf_counter() - self.t
                phases.cpu[name] = time.process_time() - self.c
        return _Timer()


def job_seed_ours(folder: str, threads: int, n_recommend: int) -> dict:
    import numpy as np

    from compactemb.interactions import Interactions
    from compactemb.train import ALS

    t = time.perf_counter()  # numba warm-up: kernels compiled or loaded from numba's cache
    tiny = ALS(dim=8, epochs=1, n_threads=threads).fit(np.eye(20, dtype=np.float32)).model_
    tiny.recommend_rows(np.arange(20), k=3, batch=5, n_threads=threads)
    tiny.recommend_rows(np.arange(20), k=3, n_threads=1)
    warmup = time.perf_counter() - t
    users, items = np.load(Path(folder) / "users.npy"), np.load(Path(folder) / "items.npy")
    phase = Phases()
    with phase("indexing"):
        inter = Interactions.from_arrays(users, items)
    del users, items
    with phase("training"):
        model = ALS(dim=50, epochs=3, n_threads=threads, random_state=0).fit(inter).model_
    query = inter.user_vocab.key_array[np.random.default_rng(1).choice(
        len(inter.user_vocab), n_recommend, replace=False)]
    with phase("recommending"):
        recs = model.recommend(query.tolist(), k=10)
    assert len(recs) == n_recommend and len(recs[0]) == 10
    return {"phases": phase.wall, "cpu": phase.cpu, "warmup_s": warmup, "nnz": inter.nnz,
            "shape": list(inter.shape), "peak_rss_bytes": peak_rss()}


def job_seed_implicit(folder: str, threads: int, n_recommend: int) -> dict:
    import numpy as np
    import scipy.sparse as sp
    from implicit.cpu.als import AlternatingLeastSquares

    users, items = np.load(Path(folder) / "users.npy"), np.load(Path(folder) / "items.npy")
    phase = Phases()
    with phase("indexing"):
        user_ids, u = np.unique(users, return_inverse=True)
        item_ids, i = np.unique(items, return_inverse=True)
        del users, items
        user_items = sp.csr_matrix((np.ones(u.size, np.float32), (u, i)),
                                   shape=(user_ids.size, item_ids.size))
        del u, i
    with phase("training"):
        model = AlternatingLeastSquares(factors=50, iterations=3, num_threads=threads,
                                        random_state=0, calculate_training_loss=False)
        model.fit(user_items, show_progress=False)
    rows = np.random.default_rng(1).choice(user_ids.size, n_recommend, replace=False)
    with phase("recommending"):
        ids, _scores = model.recommend(rows, user_items[rows], N=10,
                                       filter_already_liked_items=True)
        raw = item_ids[ids]
    assert raw.shape == (n_recommend, 10)
    return {"phases": phase.wall, "cpu": phase.cpu, "nnz": int(user_items.nnz),
            "shape": list(user_items.shape), "peak_rss_bytes": peak_rss()}


IMPLICIT_CSV = """
import sys, time, numpy as np, scipy.sparse as sp, pyarrow.csv as pacsv
from implicit.cpu.als import AlternatingLeastSquares
t = time.perf_counter()
table = pacsv.read_csv(sys.argv[1])
users, items = table.column(0).to_numpy(), table.column(1).to_numpy()
weights = table.column(2).to_numpy().astype(np.float32)
del table
user_ids, u = np.unique(users, return_inverse=True)
item_ids, i = np.unique(items, return_inverse=True)
m = sp.csr_matrix((weights, (u, i)), shape=(user_ids.size, item_ids.size))
read = time.perf_counter() - t
model = AlternatingLeastSquares(factors=64, iterations=15, num_threads=int(sys.argv[2]),
                                random_state=0, calculate_training_loss=False)
model.fit(m, show_progress=False)
np.save(sys.argv[3], model.item_factors)
print(read)
"""

GENSIM_VOCAB = """
import sys, time
from gensim.models import Word2Vec
from gensim.models.word2vec import LineSentence
t, c = time.perf_counter(), time.process_time()
model = Word2Vec(min_count=5)
model.build_vocab(LineSentence(sys.argv[1]))
print(time.perf_counter() - t, time.process_time() - c, len(model.wv))
"""

# our counting after every import (numba's too, and a warm-up count of a tiny file), as a
# long-running process (word2vec training, a notebook) sees it; argv: corpus, warm-up file
OURS_COUNT = """
import sys, time
from compactemb import Vocab
try:
    import numba  # noqa: F401 - the interner's kernel, as in a process that trains
except ImportError:
    pass
Vocab.from_corpus(sys.argv[2], min_count=1)
t, c = time.perf_counter(), time.process_time()
v = Vocab.from_corpus(sys.argv[1], min_count=5)
print(time.perf_counter() - t, time.process_time() - c, len(v))
"""


def run_process(cmd: list[str], env=None) -> dict:
    """Wall seconds and peak RSS (of the child alone) of one command, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env or ENV)
    wall = time.perf_counter() - t
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest child so far: run the big ones first or read the
    # child's own figure where it reports one
    return {"wall_s": wall, "peak_rss_bytes": max(before, after) * 1024, "stdout": done.stdout}


def run_job(name: str, *args) -> dict:
    out = run_process([sys.executable, __file__, "--job", name, *map(str, args)],
                      env=PEER_ENV if "implicit" in name else ENV)
    return json.loads(out["stdout"].strip().splitlines()[-1])


# -- the benchmark ---------------------------------------------------------------------------------

def bench_seed(tmp: Path, scale: float, threads: int) -> dict:
    info = make_seed_log(tmp, scale)
    n_recommend = min(10_000, info["users"])
    res = {"data": info, "n_recommend": n_recommend}
    for side in ("implicit", "ours"):
        r = run_job(f"seed-{side}", tmp, threads, n_recommend)
        r["whole_s"] = sum(r["phases"].values())
        res[side] = r
    o, p = res["ours"], res["implicit"]
    res["speed_ratio_whole"] = p["whole_s"] / o["whole_s"]
    res["speed_ratio_phases"] = {k: p["phases"][k] / o["phases"][k] for k in o["phases"]}
    res["rss_ratio"] = o["peak_rss_bytes"] / p["peak_rss_bytes"]
    return res


def _child_rss(cmd, env=None) -> dict:
    """Run through /usr/bin/time-less wrapper: a Python parent that waits for one child."""
    code = ("import resource, subprocess, sys, time, json\n"
            "t = time.perf_counter()\n"
            "p = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
            "w = time.perf_counter() - t\n"
            "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
            "sys.stderr.write(p.stderr[-2000:])\n"
            "print(json.dumps({'rc': p.returncode, 'wall_s': w, 'peak_rss_bytes': "
            "u.ru_maxrss * 1024, 'cpu_s': u.ru_utime + u.ru_stime, 'stdout': p.stdout}))\n")
    out = run_process([sys.executable, "-c", code, *cmd], env=env)
    res = json.loads(out["stdout"].strip().splitlines()[-1])
    if res["rc"]:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out}")
    return res


def bench_csv(tmp: Path, scale: float, threads: int) -> dict:
    path = tmp / "log.csv"
    info = make_csv_log(path, scale)
    ours = _child_rss([sys.executable, "-m", "compactemb", "train", "items", str(path),
                       "--method", "als", "--dim", "64", "--epochs", "15", "--threads",
                       str(threads), "-o", str(tmp / "model.cemb"), "-q"])
    peer = _child_rss([sys.executable, "-c", IMPLICIT_CSV, str(path), str(threads),
                       str(tmp / "implicit_items.npy")], env=PEER_ENV)
    peer["read_index_s"] = float(peer["stdout"].split()[0])
    return {"data": info, "ours": ours, "implicit": peer,
            "speed_ratio_whole": peer["wall_s"] / ours["wall_s"],
            "rss_ratio": ours["peak_rss_bytes"] / peer["peak_rss_bytes"]}


def bench_text(tmp: Path) -> dict:
    if not GUTENBERG.exists():
        return {"skipped": f"{GUTENBERG.name} not present (shared data)"}
    before = tmp / "before"
    before.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", BEFORE, "src"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
    res = {"corpus": GUTENBERG.name}
    cmd = [sys.executable, "-m", "compactemb", "vocab", str(GUTENBERG), "-o",
           str(tmp / "v.cemb"), "--json"]
    for side, path in (("before", before / "src"), ("ours", ROOT / "src")):
        r = _child_rss(cmd, env={**ENV, "PYTHONPATH": str(path)})
        out = json.loads(r["stdout"])
        r.update(tokens=out["tokens"], size=out["size"])
        r.pop("stdout")
        res[side] = r
    g = _child_rss([sys.executable, "-c", GENSIM_VOCAB, str(GUTENBERG)], env=PEER_ENV)
    g["build_vocab_s"], _, g["size"] = (float(x) for x in g.pop("stdout").split())
    res["gensim"] = g
    res["speedup_vs_before"] = res["before"]["wall_s"] / res["ours"]["wall_s"]
    res["speed_ratio_vs_gensim"] = g["wall_s"] / res["ours"]["wall_s"]
    # tokenising + counting alone, on the decompressed text, after all imports (median of 3)
    import lzma
    import statistics

    text = tmp / "part0.txt"
    with lzma.open(GUTENBERG) as src, open(text, "wb") as dst:
        dst.write(src.read())
    warm = tmp / "warm.txt"
    warm.write_text("warm up\n")
    counting = {}
    jobs = [("before", [OURS_COUNT, str(text), str(warm)],
             {**ENV, "PYTHONPATH": str(before / "src")}),
            ("ours", [OURS_COUNT, str(text), str(warm)],
             {**ENV, "PYTHONPATH": str(ROOT / "src")}),
            ("gensim", [GENSIM_VOCAB, str(text)], PEER_ENV)]
    for side, argv, env in jobs:
        runs = [run_process([sys.executable, "-c", *argv], env=env)["stdout"].split()
                for _ in range(3)]
        counting[side] = {"wall_s": statistics.median(float(r[0]) for r in runs),
                          "cpu_s": statistics.median(float(r[1]) for r in runs)}
    res["counting"] = counting
    for key in ("wall", "cpu"):
        res[f"count_speedup_vs_before_{key}"] = \
            counting["before"][f"{key}_s"] / counting["ours"][f"{key}_s"]
        res[f"count_ratio_vs_gensim_{key}"] = \
            counting["gensim"][f"{key}_s"] / counting["ours"][f"{key}_s"]
    return res


FASTTEXT_CLASSIFY = """
import json, sys, time
t = time.perf_counter()
import fasttext
train, test, dim, ngrams, epochs, lr, threads, buckets, min_count = sys.argv[1:10]
model = fasttext.train_supervised(input=train, dim=int(dim), wordNgrams=int(ngrams),
                                  epoch=int(epochs), lr=float(lr), thread=int(threads),
                                  bucket=int(buckets), minCount=int(min_count), verbose=0)
trained = time.perf_counter() - t
n, accuracy, _ = model.test(test)
print(json.dumps({"accuracy": accuracy, "n": n, "import_and_train_s": trained}))
"""
CLASSIFY_SETTINGS = {"dim": 100, "ngrams": 2, "epochs": 5, "learning_rate": 0.1,
                     "buckets": 2_000_000, "min_count": 1}
SST2 = DATA / "sst2"


def _sst2_fasttext_lines(src: Path, copies: int = 1) -> str:
    """SST-2's TSV (header, CRLF) as fastText ``__label__X text`` lines, ``copies`` times."""
    with open(src, encoding="utf-8") as f:
        next(f)
        lines = []
        for line in f:
            label, text = line.rstrip("\r\n").split("\t", 1)
            lines.append(f"__label__{label} {text}\n")
    return "".join(lines) * copies


def bench_classify(tmp: Path, threads: int, repeats: int) -> dict:
    """SST-2 train x10, whole process each side: our CLI against fastText's Python module.

    Both read the same ``__label__`` file (SST-2 train repeated 10 times) and score the 1,821
    labelled test sentences; runs are interleaved so load on the shared machine hits both.
    """
    if not (SST2 / "train.tsv").exists():
        return {"skipped": "sst2 not present (shared data)"}
    train, test = tmp / "sst2_x10.txt", tmp / "sst2_test.txt"
    train.write_text(_sst2_fasttext_lines(SST2 / "train.tsv", 10), encoding="utf-8")
    test.write_text(_sst2_fasttext_lines(SST2 / "test.tsv"), encoding="utf-8")
    s = CLASSIFY_SETTINGS
    ours_cmd = [sys.executable, "-m", "compactemb", "train", "classifier", str(train),
                "-o", str(tmp / "classifier.cemb"), "--test", str(test), "--threads",
                str(threads), "--dim", str(s["dim"]), "--ngrams", str(s["ngrams"]),
                "--epochs", str(s["epochs"]), "--learning-rate", str(s["learning_rate"]),
                "--buckets", str(s["buckets"]), "--min-count", str(s["min_count"]),
                "-q", "--json"]
    peer_cmd = [sys.executable, "-c", FASTTEXT_CLASSIFY, str(train), str(test),
                *(str(s[k]) for k in ("dim", "ngrams", "epochs", "learning_rate")),
                str(threads), str(s["buckets"]), str(s["min_count"])]
    runs: dict[str, list] = {"ours": [], "fasttext": []}
    for _ in range(repeats):
        for side, cmd in (("fasttext", peer_cmd), ("ours", ours_cmd)):
            r = _child_rss(cmd, env=PEER_ENV)
            out = json.loads(r.pop("stdout"))
            if side == "ours":
                r.update(accuracy=out["test"]["accuracy"], train_s=out["seconds"],
                         examples=out["examples"])
            else:
                r.update(accuracy=out["accuracy"], import_and_train_s=out["import_and_train_s"])
            runs[side].append(r)
            print(side, json.dumps(r), flush=True)
    import statistics

    med = {side: {k: statistics.median(r[k] for r in rs)
                  for k in ("wall_s", "cpu_s", "peak_rss_bytes", "accuracy")}
           for side, rs in runs.items()}
    ratios = [o["wall_s"] / f["wall_s"] for o, f in zip(runs["ours"], runs["fasttext"])]
    return {"data": {"train_lines": runs["ours"][0]["examples"], "copies": 10,
                     "test_lines": 1821},
            "settings": {**s, "threads": threads}, "repeats": repeats, "runs": runs,
            "median": med, "time_ratio_ours_over_fasttext_per_run": ratios,
            "time_ratio_ours_over_fasttext": med["ours"]["wall_s"] / med["fasttext"]["wall_s"],
            "cpu_ratio_ours_over_fasttext": med["ours"]["cpu_s"] / med["fasttext"]["cpu_s"],
            "rss_ratio": med["ours"]["peak_rss_bytes"] / med["fasttext"]["peak_rss_bytes"],
            "target_time_ratio_at_most": 0.6}


def write_classify_markdown(res: dict, path: Path) -> None:
    if "skipped" in res:
        path.write_text(f"# Classifier on SST-2 x10\n\n{res['skipped']}\n")
        return
    med, s = res["median"], res["settings"]
    lines = ["# Classifier on SST-2 x10: whole process, compactemb against fastText", "",
             f"{res['machine']}, load {res['load']}. `{res['command']}`", "",
             f"SST-2 train repeated 10 times ({res['data']['train_lines']:,} lines, fastText "
             f"`__label__` format, the same file for both), test on the "
             f"{res['data']['test_lines']:,} labelled test sentences. Settings (both): dim "
             f"{s['dim']}, word n-grams {s['ngrams']}, {s['epochs']} epochs, lr "
             f"{s['learning_rate']}, {s['buckets']:,} buckets, min count {s['min_count']}, "
             f"{s['threads']} threads. Whole process from the shell each (Python start, imports, "
             "reading, training, saving/testing); ours `compactemb train classifier ... --test`, "
             "fastText `fasttext.train_supervised` + `model.test` in `python -c`. "
             f"{res['repeats']} interleaved runs, medians.", "",
             "| | wall (s) | CPU (s) | peak RSS (MB) | test accuracy |", "|---|---|---|---|---|"]
    for side in ("ours", "fasttext"):
        m = med[side]
        lines.append(f"| {side} | {m['wall_s']:.2f} | {m['cpu_s']:.2f} | "
                     f"{m['peak_rss_bytes'] / 2**20:,.0f} | {m['accuracy']:.4f} |")
    per_run = ", ".join(f"{x:.2f}" for x in res["time_ratio_ours_over_fasttext_per_run"])
    ratio = res["time_ratio_ours_over_fasttext"]
    lines += ["", f"Time ours/fastText **{ratio:.2f}** (per run: {per_run}); target at most "
              f"{res['target_time_ratio_at_most']}: **{'met' if ratio <= 0.6 else 'missed'}**. "
              f"CPU time ours/fastText {res['cpu_ratio_ours_over_fasttext']:.2f} "
              "(steadier than wall time on a shared machine). "
              f"Peak RSS ours/fastText {res['rss_ratio']:.2f}.", ""]
    path.write_text("\n".join(lines))


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2))
    seed = results.get("seed")
    if seed:
        ax = axes[0]
        colours = {"indexing": "#4c72b0", "training": "#dd8452", "recommending": "#55a868"}
        for x, side in enumerate(("ours", "implicit")):
            bottom = 0.0
            for phase, secs in seed[side]["phases"].items():
                ax.bar(x, secs, bottom=bottom, color=colours[phase],
                       label=phase if x == 0 else None)
                bottom += secs
        ax.set_xticks([0, 1], ["compactemb", "implicit"])
        ax.set_ylabel("seconds")
        ax.set_title(f"seed scale: {seed['data']['users']:,} users, "
                     f"{seed['ours']['nnz']:,} pairs, ALS 50 x 3, top 10 for 10k", fontsize=9)
        ax.legend(fontsize=8)
    csv = results.get("csv")
    if csv:
        ax = axes[1]
        ax.bar([0, 1], [csv["ours"]["wall_s"], csv["implicit"]["wall_s"]],
               color=["#4c72b0", "#c44e52"])
        ax.set_xticks([0, 1], ["compactemb CLI", "pyarrow + implicit"])
        ax.set_title(f"{csv['data']['rows']:,}-line CSV, ALS 64 x 15 (whole process)", fontsize=9)
        ax.set_ylabel("seconds")
    text = results.get("text")
    if text and "ours" in text:
        ax = axes[2]
        ax.bar([0, 1, 2], [text["before"]["wall_s"], text["ours"]["wall_s"],
                           text["gensim"]["wall_s"]], color=["#8172b3", "#4c72b0", "#c44e52"])
        ax.set_xticks([0, 1, 2], ["before", "compactemb", "gensim"])
        ax.set_title("counting Gutenberg part 0 (whole process)", fontsize=9)
        ax.set_ylabel("seconds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_markdown(results: dict, path: Path) -> None:
    lines = ["# Whole process at the seed's scale (issue 11)", "",
             f"Machine: {results['machine']}; `{results['command']}`; load average "
             f"{results.get('load', '?')} at the start (the machine is shared: wall times "
             "under load are noisy, CPU seconds less so). Ratios are the peer's time over ours "
             "(above 1: we are faster) and our peak RSS over the peer's.", ""]
    if results.get("kept_from_earlier_run"):
        lines += ["Parts kept from the earlier full run (`--update`): "
                  + ", ".join(results["kept_from_earlier_run"]) + ".", ""]
    seed = results.get("seed")
    if seed:
        d = seed["data"]
        lines += [f"## Seed scale: {d['users']:,} users x {d['items']:,} items, "
                  f"{d['rows']:,} rows ({seed['ours']['nnz']:,} distinct pairs), ALS 50 factors "
                  f"x 3 iterations, top-10 for {seed['n_recommend']:,} users", "",
                  "| phase | compactemb s | implicit s | speed ratio | compactemb CPU s | "
                  "implicit CPU s |", "|---|---|---|---|---|---|"]
        for k, v in seed["ours"]["phases"].items():
            lines.append(f"| {k} | {v:.2f} | {seed['implicit']['phases'][k]:.2f} | "
                         f"{seed['speed_ratio_phases'][k]:.2f}x | "
                         f"{seed['ours']['cpu'][k]:.2f} | {seed['implicit']['cpu'][k]:.2f} |")
        lines += [f"| **whole** | {seed['ours']['whole_s']:.2f} | "
                  f"{seed['implicit']['whole_s']:.2f} | **{seed['speed_ratio_whole']:.2f}x** |",
                  f"| peak RSS MB | {seed['ours']['peak_rss_bytes'] / 2**20:.0f} | "
                  f"{seed['implicit']['peak_rss_bytes'] / 2**20:.0f} | "
                  f"{seed['rss_ratio']:.2f}x (ours / implicit) |", "",
                  f"Our numba warm-up (not in the phases): {seed['ours']['warmup_s']:.2f} s.", ""]
    csv = results.get("csv")
    if csv:
        lines += [f"## {csv['data']['rows']:,}-line CSV log, whole process", "",
                  "| | compactemb CLI | pyarrow + np.unique + implicit | ratio |",
                  "|---|---|---|---|",
                  f"| wall s | {csv['ours']['wall_s']:.2f} | {csv['implicit']['wall_s']:.2f} | "
                  f"{csv['speed_ratio_whole']:.2f}x |",
                  f"| CPU s (all threads) | {csv['ours']['cpu_s']:.2f} | "
                  f"{csv['implicit']['cpu_s']:.2f} | |",
                  f"| peak RSS MB | {csv['ours']['peak_rss_bytes'] / 2**20:.0f} | "
                  f"{csv['implicit']['peak_rss_bytes'] / 2**20:.0f} | {csv['rss_ratio']:.2f}x |",
                  ""]
    text = results.get("text")
    if text and "ours" in text:
        lines += [f"## Counting tokens: {text['corpus']} ({text['ours']['tokens']:,} tokens)", "",
                  "| | before issue 11 | compactemb | gensim build_vocab |", "|---|---|---|---|",
                  f"| whole process s | {text['before']['wall_s']:.2f} | "
                  f"{text['ours']['wall_s']:.2f} | {text['gensim']['wall_s']:.2f} |",
                  f"| whole process CPU s | {text['before']['cpu_s']:.2f} | "
                  f"{text['ours']['cpu_s']:.2f} | {text['gensim']['cpu_s']:.2f} |",
                  f"| counting alone s (decompressed text, after imports) | "
                  f"{text['counting']['before']['wall_s']:.2f} | "
                  f"{text['counting']['ours']['wall_s']:.2f} | "
                  f"{text['counting']['gensim']['wall_s']:.2f} |",
                  f"| counting alone CPU s | {text['counting']['before']['cpu_s']:.2f} | "
                  f"{text['counting']['ours']['cpu_s']:.2f} | "
                  f"{text['counting']['gensim']['cpu_s']:.2f} |",
                  f"| peak RSS MB (whole process) | "
                  f"{text['before']['peak_rss_bytes'] / 2**20:.0f} | "
                  f"{text['ours']['peak_rss_bytes'] / 2**20:.0f} | "
                  f"{text['gensim']['peak_rss_bytes'] / 2**20:.0f} |", "",
                  f"Whole process (`compactemb vocab` on the .xz; start-up and decompression "
                  f"included): {text['speedup_vs_before']:.2f}x the code before, "
                  f"{text['speed_ratio_vs_gensim']:.2f}x gensim. Counting alone (median of 3): "
                  f"{text['count_speedup_vs_before_wall']:.2f}x the code before "
                  f"({text['count_speedup_vs_before_cpu']:.2f}x in CPU), "
                  f"{text['count_ratio_vs_gensim_wall']:.2f}x gensim's build_vocab "
                  f"({text['count_ratio_vs_gensim_cpu']:.2f}x in CPU). gensim's LineSentence "
                  "splits on whitespace only; ours lowercases and keeps letter runs.", ""]
    elif text:
        lines += [f"Text: {text['skipped']}", ""]
    lines += ["The classifier on SST-2 x10 against fastText: `--only classify`, written to "
              f"{path.stem}_classify.md.", ""]
    path.write_text("\n".join(lines))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="data size (1 = the seed's)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip", nargs="*", default=[], choices=["seed", "csv", "text"])
    ap.add_argument("--name", default="scale", help="results file stem")
    ap.add_argument("--update", action="store_true",
                    help="keep the parts of an earlier results file that this run skips")
    ap.add_argument("--only", choices=["classify"],
                    help="classify: only the classifier on SST-2 x10 against fastText, "
                         "written to <name>_classify.md/.json")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved runs (--only classify)")
    ap.add_argument("--job", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.job:
        name, *rest = args.job
        fn = {"seed-ours": job_seed_ours, "seed-implicit": job_seed_implicit}[name]
        print(json.dumps(fn(rest[0], int(rest[1]), int(rest[2]))))
        return
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                          f"Python {platform.python_version()}",
               "command": "python bench/scale/run.py " + " ".join(sys.argv[1:]),
               "scale": args.scale, "threads": args.threads,
               "load": " / ".join(f"{x:.1f}" for x in os.getloadavg())}
    if args.only == "classify":
        with tempfile.TemporaryDirectory() as d:
            res = {**results, **bench_classify(Path(d), args.threads, args.repeats)}
        res.pop("scale")
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"{args.name}_classify.json").write_text(json.dumps(res, indent=1))
        write_classify_markdown(res, RESULTS / f"{args.name}_classify.md")
        print(f"wrote {RESULTS / (args.name + '_classify.md')}")
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        if "seed" not in args.skip:
            results["seed"] = bench_seed(tmp, args.scale, args.threads)
            print(json.dumps(results["seed"], indent=1), flush=True)
        if "csv" not in args.skip:
            results["csv"] = bench_csv(tmp, args.scale, args.threads)
            print(json.dumps({k: v for k, v in results["csv"].items()}, indent=1,
                             default=str), flush=True)
        if "text" not in args.skip:
            results["text"] = bench_text(tmp)
            print(json.dumps(results["text"], indent=1), flush=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    earlier = RESULTS / f"{args.name}.json"
    if args.update and earlier.exists():
        kept = json.loads(earlier.read_text())
        for part in args.skip:
            if part in kept:
                results[part] = kept[part]
                results.setdefault("kept_from_earlier_run", []).append(
                    f"{part} ({kept.get('load', '?')} load)")
    for part in ("csv",):
        for side in ("ours", "implicit"):
            results.get(part, {}).get(side, {}).pop("stdout", None)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=1))
    write_markdown(results, RESULTS / f"{args.name}.md")
    plot(results, RESULTS / f"{args.name}_phases.png")
    print(f"wrote {RESULTS / (args.name + '.md')}")


if __name__ == "__main__":
    main()
