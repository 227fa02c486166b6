"""Reliability run (issue 10): many more cases than CI of the fuzz and fault tests, counted.

    python bench/reliability/run.py [--quick]

Writes bench/results/reliability.md and .json: per category, the cases tried and how each ended
(clean error, traceback, hang, memory), the peak memory, and whether any file was lost.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))
import _craft  # noqa: E402

from compactemb import DenseTable, load  # noqa: E402

_SCRIPT = Path(sys.executable).with_name("compactemb")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "compactemb"]


def fuzz(n_random: int, stride: int) -> dict:
    t0 = time.perf_counter()
    records = _craft.run_isolated(crafted=True, n_random=n_random, seed=7, stride=stride,
                                  timeout_s=5.0, memory_mb=1024)
    rows = collections.defaultdict(collections.Counter)
    peak = collections.defaultdict(float)
    slowest = collections.defaultdict(float)
    for r in records:
        rows[r["category"]][r["result"]] += 1
        peak[r["category"]] = max(peak[r["category"]], r.get("peak_rss_mb", 0))
        slowest[r["category"]] = max(slowest[r["category"]], r.get("seconds", 0))
    bad = [r for r in records if r["result"] not in ("ok", "format")]
    return {"cases": len(records), "by_category": {k: dict(v) for k, v in rows.items()},
            "peak_rss_mb": dict(peak), "slowest_s": dict(slowest), "not_clean": bad[:50],
            "seconds": round(time.perf_counter() - t0, 1)}


def cli_on_crafted(n: int) -> dict:
    """`info` and `neighbors`/`predict` of crafted files through the real command line."""
    cases = _craft.select_cases(True, 0, 0, None, 1)
    rng = random.Random(3)
    picked = rng.sample(cases, min(n, len(cases)))
    out = collections.Counter()
    examples = []
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "f.cemb")
        for case_id, _, data in picked:
            Path(path).write_bytes(data)
            for argv in (["info", path], ["neighbors", path, "alpha", "-k", "1000000000"]):
                try:
                    r = subprocess.run([*CLI, *argv], capture_output=True, text=True,
                                       timeout=60)
                except subprocess.TimeoutExpired:
                    out["hang"] += 1
                    continue
                if "Traceback" in r.stderr:
                    out["traceback"] += 1
                    examples.append((case_id, argv[0], r.stderr[-300:]))
                elif r.returncode == 0:
                    out["ok"] += 1
                elif r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1:
                    out["one-line error"] += 1
                else:
                    out[f"exit {r.returncode}"] += 1
                    examples.append((case_id, argv[0], r.stderr[-300:]))
    return {"runs": sum(out.values()), "results": dict(out), "examples": examples[:10]}


def _default_sigint():
    """A child started from a background job inherits an ignored SIGINT; give it the default,
    as a terminal's foreground command has."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


_SAVER = textwrap.dedent("""
    import sys, numpy as np
    from compactemb import DenseTable
    path = sys.argv[1]
    w = np.full((2_000_000, 8), 2.0, np.float32)
    print("ready", flush=True)
    while True:
        DenseTable(w).save(path)
""")


def kill_during_save(trials: int) -> dict:
    lost = leftovers_after_next_save = 0
    with tempfile.TemporaryDirectory() as d:
        target = os.path.join(d, "t.cemb")
        DenseTable(np.full((10, 8), 1.0, np.float32)).save(target)
        rng = random.Random(5)
        left_before = 0
        for _ in range(trials):
            child = subprocess.Popen([sys.executable, "-c", _SAVER, target],
                                     stdout=subprocess.PIPE, text=True)
            child.stdout.readline()
            time.sleep(rng.uniform(0, 0.5))
            child.kill()
            child.wait()
            child.stdout.close()
            try:
                t = load(target)
                if np.unique(t.weights).size != 1:
                    lost += 1
            except Exception:
                lost += 1
            left_before = max(left_before, sum(".tmp-" in n for n in os.listdir(d)))
        DenseTable(np.full((10, 8), 3.0, np.float32)).save(target)
        leftovers_after_next_save = sum(".tmp-" in n for n in os.listdir(d))
    return {"trials": trials, "files_lost_or_damaged": lost,
            "most_leftovers_seen": left_before,
            "leftovers_after_next_save": leftovers_after_next_save}


def sigint(trials: int) -> dict:
    out = collections.Counter()
    examples = []
    with tempfile.TemporaryDirectory() as d:
        corpus = Path(d) / "c.txt"
        rng = np.random.default_rng(0)
        letters = "abcdefghijklmnopqrstuvwxyz"
        words = [a + b + c for a in letters[:10] for b in letters for c in letters[:4]]
        corpus.write_text("\n".join(" ".join(rng.choice(words, 12)) for _ in range(20000)))
        target = Path(d) / "v.cemb"
        r = random.Random(11)
        for i in range(trials):
            if target.exists():
                target.unlink()
            delay = 0.05 * i if i < 20 else r.uniform(0, 2.0)
            child = subprocess.Popen([*CLI, "train", "words", str(corpus), "-o", str(target),
                                      "--dim", "8", "--min-count", "1", "-q"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     preexec_fn=_default_sigint)
            time.sleep(delay)
            child.send_signal(signal.SIGINT)
            _, err = child.communicate(timeout=300)
            frames = [ln for ln in err.splitlines() if ln.strip().startswith("File ")]
            in_package = any("compactemb/" in ln for ln in frames)
            if child.returncode == 130 and "Traceback" not in err and not target.exists():
                out["exit 130, one line, no output"] += 1
            elif child.returncode == 0:
                out["finished before the signal"] += 1
            elif "Traceback" in err and not in_package or \
                    child.returncode == -signal.SIGINT and not err:
                out["interpreter start-up (before compactemb's first line)"] += 1
            else:
                out[f"other (exit {child.returncode})"] += 1
                examples.append(err[-300:])
    return {"trials": trials, "results": dict(out), "examples": examples[:5]}


_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from compactemb import DenseTable
    path = sys.argv[1]
    tables = [DenseTable(np.full((200 + 50 * v, 16), float(v), np.float32)) for v in (1, 2)]
    print("ready", flush=True)
    i = 0
    while True:
        tables[i % 2].save(path)
        i += 1
""")


def concurrent(loads: int) -> dict:
    errors = collections.Counter()
    with tempfile.TemporaryDirectory() as d:
        target = os.path.join(d, "t.cemb")
        DenseTable(np.full((250, 16), 1.0, np.float32)).save(target)
        writer = subprocess.Popen([sys.executable, "-c", _WRITER, target],
                                  stdout=subprocess.PIPE, text=True)
        writer.stdout.readline()
        t0 = time.perf_counter()
        try:
            for i in range(loads):
                try:
                    t = load(target, mmap=bool(i % 2))
                    v = float(t.weights[0, 0])
                    if t.weights.shape != (200 + 50 * int(v), 16) or not np.all(t.weights == v):
                        errors["wrong data"] += 1
                except Exception as exc:
                    errors[type(exc).__name__] += 1
        finally:
            writer.kill()
            writer.wait()
            writer.stdout.close()
    return {"loads": loads, "errors": dict(errors), "seconds": round(time.perf_counter() - t0, 1)}


def render(res: dict) -> str:
    f = res["fuzz"]
    lines = ["# Reliability run (issue 10)", "",
             f"`python bench/reliability/run.py` on {res['machine']}, {res['date']}. "
             "Crafted files are golden files with one edit and every checksum recomputed "
             "(malicious, not accidental); random cases make 1-3 random edits.", "",
             "## Stored files", "",
             "| category | cases | format error | loaded and worked | traceback | hang | "
             "memory | slowest case | peak RSS |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for cat, counts in sorted(f["by_category"].items()):
        other = {k: v for k, v in counts.items() if k not in ("ok", "format")}
        tb = sum(v for k, v in other.items() if k.startswith("traceback") or
                 k.startswith("other") or k.startswith("crash"))
        lines.append(f"| {cat} | {sum(counts.values())} | {counts.get('format', 0)} | "
                     f"{counts.get('ok', 0)} | {tb} | {counts.get('hang', 0)} | "
                     f"{counts.get('memory', 0)} | {f['slowest_s'][cat]:.2f} s | "
                     f"{f['peak_rss_mb'][cat]:.0f} MB |")
    lines += ["", f"{f['cases']} cases in {f['seconds']} s; each ran in a process whose address "
              "space may grow by at most 1 GiB and was stopped after 5 s.", ""]
    c = res["cli"]
    lines += ["## The command line on crafted files", "",
              f"`info FILE` and `neighbors FILE alpha -k 1000000000` on {c['runs'] // 2} "
              f"crafted files ({c['runs']} runs): " +
              ", ".join(f"{k}: {v}" for k, v in sorted(c["results"].items())) + ".", ""]
    k = res["kill9"]
    lines += ["## Faults", "",
              "| fault | tried | result |", "|---|---:|---|",
              f"| kill -9 during a 64 MB save | {k['trials']} | files lost or damaged: "
              f"{k['files_lost_or_damaged']}; temporaries left by the killed writers: up to "
              f"{k['most_leftovers_seen']}, after the next save: "
              f"{k['leftovers_after_next_save']} |"]
    s = res["sigint"]
    lines.append(f"| Ctrl-C during `train words` (first 20 at 0, 0.05, ... 0.95 s, then random "
                 f"up to 2 s) | {s['trials']} | " +
                 "; ".join(f"{a}: {b}" for a, b in sorted(s["results"].items())) + " |")
    cc = res["concurrent"]
    lines.append(f"| loads while another process atomically replaces the file | {cc['loads']} | "
                 f"false errors: {sum(cc['errors'].values())} ({cc['errors'] or 'none'}) |")
    lines += ["", "Ctrl-C while the interpreter itself starts (reading site-packages' .pth "
              "files), before compactemb's first line, ends in Python's own message; from the "
              "entry point on, every Ctrl-C gives exit 130 and one line.", ""]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    q = args.quick
    res = {"machine": f"{os.cpu_count()} cores", "date": time.strftime("%Y-%m-%d")}
    res["fuzz"] = fuzz(200 if q else 6000, 20 if q else 1)
    res["cli"] = cli_on_crafted(20 if q else 100)
    res["kill9"] = kill_during_save(3 if q else 30)
    res["sigint"] = sigint(6 if q else 45)
    res["concurrent"] = concurrent(1000 if q else 11000)
    out = ROOT / "bench" / "results"
    name = "reliability_quick" if q else "reliability"
    (out / f"{name}.json").write_text(json.dumps(res, indent=1))
    (out / f"{name}.md").write_text(render(res) + "\n")
    sys.stdout.write(render(res) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
