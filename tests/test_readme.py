"""README's code runs: every ``python`` block and every ``compactemb`` command of the bash and
console blocks, in README order, in one folder holding small stand-ins for the files README names.

The stand-ins are real data cut small (the bundled Austen corpus, a MovieLens-shaped log, labelled
sentences) so a README example that no longer matches the API fails here, not in a user's hands.
"""

from __future__ import annotations

import gzip
import lzma
import os
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

def _blocks() -> list[tuple[int, str, str]]:
    """(line, language, code) of each fenced block of README, in order."""
    blocks, lang, start, buf = [], None, 0, []
    for no, line in enumerate(README.read_text(encoding="utf-8").splitlines(), 1):
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence and lang is None:
            lang, start, buf = fence.group(1) or "text", no + 1, []
        elif fence:
            blocks.append((start, lang, "\n".join(buf)))
            lang = None
        elif lang is not None:
            buf.append(line)
    return blocks


def _commands(code: str) -> list[str]:
    """The ``compactemb ...`` command lines of a bash/console block (continuations joined)."""
    out, cur = [], ""
    for raw in code.splitlines():
        line = raw.strip()
        if line.startswith("$ "):
            line = line[2:]
        cur = f"{cur} {line}" if cur else line
        if cur.endswith("\\"):
            cur = cur[:-1].rstrip()
            continue
        cmd = cur.split("#", 1)[0].strip() if not cur.startswith("#") else ""
        cur = ""
        if cmd.startswith("compactemb "):
            out.append(cmd)
    return out


CASES = []
for _line, _lang, _code in _blocks():
    if _lang == "python":
        CASES.append(pytest.param("python", _code, id=f"README.md:{_line}:python"))
    elif _lang in ("bash", "console", "sh"):
        for _i, _cmd in enumerate(_commands(_code)):
            CASES.append(pytest.param("cli", _cmd, id=f"README.md:{_line}:cmd{_i}"))


def _write_lines(path: Path, lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode("utf-8")
    if path.suffix == ".xz":
        data = lzma.compress(data)
    elif path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A folder with small, real stand-ins for every input file README names."""
    from compactemb.demo import demo_corpus_path
    from compactemb.formats import save_word2vec_format
    from compactemb.train import PPMISVD

    d = tmp_path_factory.mktemp("readme")
    with gzip.open(demo_corpus_path(), "rt", encoding="utf-8") as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()][:1500]
    # README's word examples ask about kings and queens; Austen's drawing rooms have few
    lines += ["the king and the queen", "a man and a woman", "the king is a man",
              "the queen is a woman", "king queen man woman brother sister"] * 6
    for name in ("corpus.txt.xz", "corpus.txt"):
        _write_lines(d / name, lines)
    kv = PPMISVD(dim=60).fit(str(d / "corpus.txt")).model_
    (d / "compactemb-demo").mkdir()
    for name in ("words.cemb", "vectors.cemb", "compactemb-demo/austen-svd.cemb"):
        kv.save(d / name)
    save_word2vec_format(kv, d / "vectors.bin", binary=True)
    save_word2vec_format(kv, d / "GoogleNews-vectors-negative300.bin", binary=True)
    save_word2vec_format(kv, d / "vectors.vec", binary=False)
    text = (d / "vectors.vec").read_text(encoding="utf-8")
    (d / "glove.6B.100d.txt").write_text(text.split("\n", 1)[1], encoding="utf-8")
    (d / "cc.en.300.vec.gz").write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
    # a MovieLens-shaped log (user item rating time), users 1..300, items 1..200: 196 and 50 occur
    rng = np.random.default_rng(0)
    users = rng.integers(1, 301, 6000)
    items = np.minimum(rng.zipf(1.3, 6000), 200)
    items[:200] = np.arange(1, 201)
    users[:10] = 196
    log = [f"{u}\t{i}\t{rng.integers(1, 6)}\t{880000000 + k}"
           for k, (u, i) in enumerate(zip(users, items))]
    _write_lines(d / "u.data", log)
    _write_lines(d / "ratings.csv", ["user,item,rating"] + [
        ",".join(r.split("\t")[:3]) for r in log])
    _write_lines(d / "plays.csv", ["listener,artist,plays"] + [
        ",".join(r.split("\t")[:3]) for r in log])
    _write_lines(d / "held-out.txt", [r.rsplit("\t", 1)[0] for r in log[::7]])
    from compactemb.interactions import read_interactions
    from compactemb.train import ALS

    ALS(16, epochs=3).fit(read_interactions(d / "u.data")).model_.save(d / "model.cemb")
    # labelled sentences for the classifier: the Austen lines, labelled by novel half
    labelled = ["sentence\tlabel"] + [f"{ln.replace(chr(9), ' ')}\t{int(k % 2)}"
                                     for k, ln in enumerate(lines[:3000])]
    (d / "sst2").mkdir()
    for name in ("train.tsv", "test.tsv", "sst2/train.tsv", "sst2/test.tsv"):
        _write_lines(d / name, labelled)
    known = [str(k) for k in kv.vocab.keys[:40]]
    _write_lines(d / "keys.txt", known)
    _write_lines(d / "key-labels.txt", [f"{k}\t{'short' if len(k) < 4 else 'long'}"
                                        for k in known])
    _write_lines(d / "questions-words.txt", [": family", "brother sister king queen",
                                             "man woman king queen"])
    _write_lines(d / "wordsim353.tsv", ["man\twoman\t8.0", "king\tqueen\t8.5",
                                        "brother\tsister\t8.0", "man\tqueen\t4.0"])
    _write_lines(d / "EN-SimVerb-3500.txt", ["king\tman\t5.0", "sister\tbrother\t7.5",
                                             "woman\tqueen\t6.0"])
    # query vectors for the collection README fills from its own `train words ... --dim 300`
    np.save(d / "q.npy", rng.standard_normal((2, 300)).astype(np.float32))
    _write_lines(d / "reviews.tsv", ["id\ttext"] + [f"r{k}\t{ln.replace(chr(9), ' ')}"
                                                    for k, ln in enumerate(lines[:300])])
    old = os.getcwd()
    os.chdir(d)
    yield d
    os.chdir(old)


NAMESPACE: dict = {}
SERVER_AS_LITE = {"http://127.0.0.1:19530": "vectors.db"}


@pytest.mark.parametrize(("kind", "code"), CASES)
def test_readme_block_runs(workdir, kind, code, capsys):
    if kind == "python":
        exec(compile(code, "README.md", "exec"), NAMESPACE)  # noqa: S102 - README's own code
        return
    from compactemb.cli import main

    # the server README names is tested in test_milvus.py; here the same code runs on Lite
    argv = [SERVER_AS_LITE.get(a, a) for a in shlex.split(code)[1:]]
    status = main(argv)
    err = capsys.readouterr().err
    assert status == 0, f"`{code}` exited {status}: {err}"
