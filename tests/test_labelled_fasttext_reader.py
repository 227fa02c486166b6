"""The fast ``__label__`` reader gives exactly what the obvious per-token reader gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compactemb.exceptions import InputError
from compactemb.labelled import _read_fasttext
from compactemb.text import iter_lines

PREFIX = "__label__"


def reference_read_fasttext(path, prefix, unlabelled):
    """The reader before the fast path: a startswith per token, a join per line."""
    texts, labels = [], []
    n = len(prefix)
    for lineno, line in enumerate(iter_lines(path), 1):
        if not line.strip():
            continue
        words = line.split()
        labs = [w[n:] for w in words if w.startswith(prefix) and len(w) > n]
        if not labs:
            if unlabelled == "skip":
                continue
            raise InputError(f"{path}: line {lineno}: no label (expected a token like "
                             f"{prefix}X; use unlabelled='skip' to ignore such lines)")
        texts.append(" ".join(w for w in words if not w.startswith(prefix)))
        labels.append(labs)
    return texts, labels


TRICKY = [
    "__label__pos a good film",
    "__label__neg",  # label, empty text
    "__label__a __label__b two labels",
    "text first __label__mid then more",
    "__label__x\ttabs\tbetween  words   and\u00a0nbsp",
    "   __label__lead   leading spaces  ",
    "__label__é ünïcödé wörds \u2003 em-space",
    "__label__ a bare prefix then text",
    "__label__ok a bare prefix later __label__",
    "__label__ok inner foo__label__bar not a label",
    "__label__ok __label__",
    "no label here",
    "__label__",
    "",
    "   \t ",
    "x __label__y",
    "__label__lab__label__again",
    "__label____label__",
]


def _compare(tmp_path, lines, prefix=PREFIX):
    path = tmp_path / "data.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert _read_fasttext(path, prefix, "skip") == reference_read_fasttext(path, prefix, "skip")
    try:
        expected = reference_read_fasttext(path, prefix, "error")
    except InputError as exc:
        with pytest.raises(InputError) as got:
            _read_fasttext(path, prefix, "error")
        assert str(got.value) == str(exc)
    else:
        assert _read_fasttext(path, prefix, "error") == expected


def test_tricky_lines_match_the_reference(tmp_path):
    _compare(tmp_path, TRICKY)
    labelled_only = [line for line in TRICKY if line.strip()
                     and reference_read_fasttext_line_has_label(line)]
    _compare(tmp_path, labelled_only)


def reference_read_fasttext_line_has_label(line):
    return any(w.startswith(PREFIX) and len(w) > len(PREFIX) for w in line.split())


@pytest.mark.parametrize("prefix", ["__label__", "#", "lab:"])
def test_other_prefixes_match_the_reference(tmp_path, prefix):
    _compare(tmp_path, [line.replace("__label__", prefix) for line in TRICKY], prefix)


word = st.sampled_from(["__label__", "__label__a", "__label__β", "a__label__b", "w", "ö", "",
                        "__lab", "el__x"])
gap = st.sampled_from([" ", "  ", "\t", "\u00a0", "\u3000", " \t "])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(word, gap), max_size=6), min_size=1, max_size=8))
def test_random_lines_match_the_reference(tmp_path_factory, rows):
    lines = ["".join(w + g for w, g in row) for row in rows]
    _compare(tmp_path_factory.mktemp("lines"), lines)
