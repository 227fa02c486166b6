"""Faults a user or the machine causes, in real subprocesses: kill -9 during a save, Ctrl-C at
random moments (imports included), a file-size limit (a full disk), a read-only folder, an
output that is an input, a reader racing a writer. Each must end in one line and a clear exit
status, never a traceback, never a lost or half-written file."""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from compactemb import DenseTable, load
from compactemb.cli import build_parser, main
from compactemb.cli._outputs import OUTPUT_OPTIONS

# the console script when installed (what a user runs), else python -m compactemb
_SCRIPT = Path(sys.executable).with_name("compactemb")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "compactemb"]


def _corpus(path: Path, lines: int = 3000) -> Path:
    rng = np.random.default_rng(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [a + b + c for a in letters[:10] for b in letters for c in letters[:4]]  # 1,040
    path.write_text("\n".join(" ".join(rng.choice(words, 12)) for _ in range(lines)) + "\n")
    return path


def _no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) <= 1, stderr


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


# -- kill -9 during a save ----------------------------------------------------------------------

# Children get their signal or limit from a tiny launcher that then execs the command, not from
# preexec_fn: forking without exec in a test process where gRPC threads run (the Milvus tests load
# pymilvus) aborts the child in gRPC's fork handlers.
_LAUNCH = textwrap.dedent("""
    import os, resource, signal, sys
    what, argv = sys.argv[1], sys.argv[2:]
    if what == "sigint":  # a background job's children inherit an ignored SIGINT: the default
        signal.signal(signal.SIGINT, signal.SIG_DFL)
    else:
        resource.setrlimit(resource.RLIMIT_FSIZE, (int(what), int(what)))
    os.execv(argv[0], argv)
""")


def _with_default_sigint(argv: list[str]) -> list[str]:
    """``argv`` run with the default SIGINT, as a terminal's foreground command has."""
    return [sys.executable, "-c", _LAUNCH, "sigint", *argv]


def _with_file_size_limit(nbytes: int, argv: list[str]) -> list[str]:
    """``argv`` run under ``RLIMIT_FSIZE`` = ``nbytes`` (a disk that fills up)."""
    return [sys.executable, "-c", _LAUNCH, str(nbytes), *argv]


_SAVER = textwrap.dedent("""
    import sys, numpy as np
    from compactemb import DenseTable
    path, value = sys.argv[1], float(sys.argv[2])
    w = np.full((2_000_000, 8), value, np.float32)  # 64 MB: the save takes a while
    print("ready", flush=True)
    while True:
        DenseTable(w).save(path)
""")


def test_kill_9_during_save_keeps_the_old_file_and_the_next_save_cleans_up(tmp_path):
    target = tmp_path / "t.cemb"
    DenseTable(np.full((10, 8), 1.0, np.float32)).save(target)
    rng = random.Random(0)
    for trial in range(4):
        child = subprocess.Popen([sys.executable, "-c", _SAVER, str(target), "2.0"],
                                 stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.4))
        child.kill()
        child.wait()
        child.stdout.close()
        t = load(target)  # old or new, never damaged
        assert t.weights.shape in ((10, 8), (2_000_000, 8)), trial
        assert np.unique(t.weights).size == 1
    # the dead writers' temporary files go with the next save to the same path
    DenseTable(np.full((10, 8), 3.0, np.float32)).save(target)
    assert _leftovers(tmp_path) == []
    assert float(load(target).weights[0, 0]) == 3.0


def test_temp_files_of_live_writers_are_kept(tmp_path):
    target = tmp_path / "t.cemb"
    mine = tmp_path / f"t.cemb.tmp-{os.getpid()}-abcd"  # this process is alive
    mine.write_bytes(b"x")
    dead = tmp_path / "t.cemb.tmp-999999999-abcd"  # no such process
    dead.write_bytes(b"x")
    DenseTable(np.zeros((2, 2), np.float32)).save(target)
    assert mine.exists() and not dead.exists()


# -- Ctrl-C --------------------------------------------------------------------------------------

def _in_interpreter_start(returncode: int, err: str) -> bool:
    """Ctrl-C while the interpreter itself starts, before compactemb's first line runs (``site``
    reading the .pth files, ``runpy``): Python's own message or the system's silent default.
    Once the entry point runs, every Ctrl-C gives exit 130 and one line."""
    if returncode == -signal.SIGINT and err == "":
        return True
    frames = [line for line in err.splitlines() if line.strip().startswith("File ")]
    # CPython's start-up may also end with its own status ("Failed checking if argv[0] is an
    # import path entry"): any failure but ours (130) whose traceback has no frame of ours
    return returncode not in (0, 130) and "KeyboardInterrupt" in err and \
        not any("compactemb/" in line or "compactemb\\\\" in line for line in frames)


def test_ctrl_c_at_random_moments_exits_130_without_traceback(tmp_path):
    corpus = _corpus(tmp_path / "c.txt", 20000)
    out = tmp_path / "v.cemb"
    rng = random.Random(1)
    results = []
    # early delays hit the imports (numpy, the command modules), later ones the work
    for delay in [0.0, 0.02, 0.05, 0.1, 0.2] + [rng.uniform(0.0, 1.5) for _ in range(5)]:
        if out.exists():
            out.unlink()
        child = subprocess.Popen(_with_default_sigint(
                                     [*CLI, "train", "words", str(corpus), "-o", str(out),
                                      "--dim", "8", "--min-count", "1", "-q"]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(delay)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
        results.append(child.returncode)
        if _in_interpreter_start(child.returncode, err):
            continue
        _no_traceback(err)
        if child.returncode == 130:
            assert "interrupted" in err
            assert not out.exists()
        elif child.returncode == -signal.SIGINT:
            # the signal came before the interpreter had started (its handler not yet there):
            # the system's default, silent end, which a shell shows as exit 130
            assert err == "" and not out.exists()
        else:  # the work was done before the signal arrived
            assert child.returncode == 0, err
            load(out)
        assert _leftovers(tmp_path) == []
    assert results.count(130) >= 5, results


def test_sigterm_removes_scratch_and_temp_files(tmp_path):
    corpus = _corpus(tmp_path / "c.txt", 40000)
    scratch_root = tmp_path / "scratch"
    scratch_root.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch_root)}
    child = subprocess.Popen([*CLI, "train", "words", str(corpus), "-o", str(tmp_path / "w.cemb"),
                              "--dim", "8", "--min-count", "1", "-q"],
                             stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 60
    while not any(scratch_root.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.02)
    made = [p.name for p in scratch_root.iterdir()]
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    _no_traceback(err)
    if made:  # the scratch folder existed while training: it is gone now
        assert all(name.startswith("compactemb-scratch-") for name in made), made
        assert child.returncode == 143
    assert list(scratch_root.iterdir()) == []
    assert _leftovers(tmp_path) == []


def test_stale_scratch_folders_of_dead_processes_are_removed(tmp_path):
    from compactemb._scratch import PREFIX, scratch_dir

    stale = tmp_path / f"{PREFIX}999999999-w2v-x"
    stale.mkdir()
    live = tmp_path / f"{PREFIX}{os.getpid()}-w2v-y"
    live.mkdir()
    with scratch_dir("test", str(tmp_path)) as d:
        assert os.path.isdir(d) and Path(d).name.startswith(f"{PREFIX}{os.getpid()}-test-")
    assert not stale.exists() and live.exists() and not Path(d).exists()


# -- a full disk: RLIMIT_FSIZE in the child -------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["vocab", "{corpus}", "--min-count", "1", "-o", "{out}"],
    ["train", "words", "{corpus}", "--dim", "8", "--min-count", "1", "-o", "{out}"],
    ["demo", "--out", "{out}", "--dim", "8"],
])
def test_file_size_limit_gives_one_line_and_leaves_nothing(tmp_path, argv):
    corpus = _corpus(tmp_path / "c.txt", 3000)
    keep = tmp_path / "keep.cemb"
    DenseTable(np.ones((3, 2), np.float32)).save(keep)
    out = tmp_path / "out"
    cmd = [a.format(corpus=corpus, out=out) for a in argv]
    r = subprocess.run(_with_file_size_limit(4096, [*CLI, *cmd, "-q"]), capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 1, r.stderr
    _no_traceback(r.stderr)
    assert r.stderr.startswith("compactemb: error: ")
    assert "too large" in r.stderr or "size limit" in r.stderr, r.stderr
    assert ".tmp-" not in r.stderr  # the user's file is named, never the temporary one
    assert not out.exists()  # no file, no partial demo folder
    assert _leftovers(tmp_path) == []
    load(keep)


# -- a read-only folder --------------------------------------------------------------------------

def test_read_only_output_folder_is_refused_before_any_work(tmp_path):
    corpus = _corpus(tmp_path / "c.txt", 200)
    if os.geteuid() != 0:
        folder = tmp_path / "ro"
        folder.mkdir()
        folder.chmod(0o555)
    else:  # root writes through permission bits; sysfs refuses new files to everyone
        folder = Path("/sys")
    out = folder / "w.cemb"
    r = subprocess.run([*CLI, "vocab", str(corpus), "--min-count", "1", "-o", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 1
    _no_traceback(r.stderr)
    assert str(out) in r.stderr and not out.exists()


# -- output = input, for every command that writes --------------------------------------------

def _writing_commands():
    """(argv prefix, parser) of every command with an output option, from the parser itself."""
    parser = build_parser()
    found = []

    def walk(p, prefix):
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, [*prefix, name])
        dests = {a.dest for a in p._actions}
        if any(dest in dests for dest, _ in OUTPUT_OPTIONS) and prefix:
            found.append((prefix, p))

    walk(parser, [])
    return found


def _argv(prefix, p, input_path: str, out_value) -> list[str]:
    argv = list(prefix)
    for a in p._actions:
        if a.option_strings or a.dest in ("help",):
            continue
        argv.append(input_path)  # every positional names the input
    for a in p._actions:
        if not a.option_strings or a.dest == "help":
            continue
        flag = max(a.option_strings, key=len)
        if a.dest in dict(OUTPUT_OPTIONS):
            value = out_value(a.dest)
            if value is not None:
                argv += [flag, value]
        elif a.required:
            argv += [flag, str(a.choices[0]) if a.choices else input_path]
    return argv


def test_every_writing_command_refuses_to_overwrite_its_input(tmp_path, capsys):
    commands = _writing_commands()
    names = {" ".join(prefix) for prefix, _ in commands}
    # the commands the issue names are all found by introspection
    assert {"train words", "train items", "train classifier", "vocab", "export", "import",
            "split", "compress"} <= names, names
    data = tmp_path / "data"
    data.mkdir()
    src = data / "in.txt"
    original = "1 2 1\n2 3 1\n3 1 1\n"
    link = tmp_path / "link"
    link.symlink_to(data)
    spellings = [str(src), str(link / "in.txt"), str(data / ".." / "data" / "in.txt")]
    for prefix, p in commands:
        folder_out = prefix[-1] in ("demo", "frontier")
        for spelling in spellings:
            src.write_text(original)
            if folder_out:
                continue  # their --out is a folder: it cannot be the input file
            argv = _argv(prefix, p, str(src), lambda dest, s=spelling: s
                         if dest == "train_out" or dest == "out" else str(tmp_path / "o2"))
            rc = main(argv)
            err = capsys.readouterr().err
            assert rc == 1, (argv, err)
            assert "is the input" in err, (argv, err)
            assert src.read_text() == original, argv


def test_split_refuses_the_same_file_for_both_outputs(tmp_path, capsys):
    src = tmp_path / "in.txt"
    src.write_text("1 2 1\n2 3 1\n3 1 1\n4 2 1\n")
    out = tmp_path / "both.txt"
    rc = main(["split", str(src), "--train-out", str(out), "--test-out",
               str(tmp_path / "." / "both.txt")])
    assert rc == 1 and "same file" in capsys.readouterr().err
    assert not out.exists()


def test_missing_output_folder_is_refused_before_the_work(tmp_path, capsys):
    corpus = _corpus(tmp_path / "c.txt", 200)
    t0 = time.perf_counter()
    rc = main(["train", "words", str(corpus), "-o", str(tmp_path / "nodir" / "w.cemb"),
               "--epochs", "50"])
    assert rc == 1 and "does not exist" in capsys.readouterr().err
    assert time.perf_counter() - t0 < 2  # refused up front, not after 50 epochs


# -- a reader racing a writer ----------------------------------------------------------------

_WRITER = textwrap.dedent("""
    import sys, numpy as np
    from compactemb import DenseTable
    path, n = sys.argv[1], int(sys.argv[2])
    tables = [DenseTable(np.full((200 + 50 * v, 16), float(v), np.float32)) for v in (1, 2)]
    print("ready", flush=True)
    for i in range(n):
        tables[i % 2].save(path)
""")


def test_concurrent_atomic_replace_never_gives_a_false_error(tmp_path):
    target = tmp_path / "t.cemb"
    DenseTable(np.full((250, 16), 1.0, np.float32)).save(target)
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(target), "100000"],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "ready"
    errors, loads = [], 0
    try:
        for i in range(3000):
            try:
                t = load(target, mmap=bool(i % 2))
                v = float(t.weights[0, 0])
                assert t.weights.shape == (200 + 50 * int(v), 16)
                assert np.all(t.weights == v)
                loads += 1
            except Exception as exc:  # counted, reported below
                errors.append(repr(exc))
    finally:
        writer.kill()
        writer.wait()
        writer.stdout.close()
    assert errors == [], errors[:5]
    assert loads == 3000
