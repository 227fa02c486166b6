"""Shared fixtures. Tests that read the real datasets in ../shared/data skip (with the reason)
where that folder is absent, so the project's own suite stands alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("COMPACTEMB_SHARED_DATA", ROOT.parent / "shared" / "data"))


def shared_file(*parts: str) -> Path:
    """A file of the shared datasets, or skip the test when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared dataset not available: {'/'.join(parts)} "
                    "(set COMPACTEMB_SHARED_DATA to the folder holding it)")
    return path


@pytest.fixture
def austen_path() -> str:
    from compactemb.demo import demo_corpus_path

    return demo_corpus_path()


@pytest.fixture
def small_corpus(tmp_path) -> Path:
    """A tiny deterministic corpus with clear co-occurrence structure."""
    import numpy as np

    rng = np.random.default_rng(0)
    animals = ["cat", "dog", "horse", "cow"]
    foods = ["bread", "cheese", "apple", "soup"]
    verbs_a = ["runs", "sleeps", "barks"]
    verbs_f = ["tastes", "smells", "cooks"]
    lines = []
    for _ in range(400):
        if rng.random() < 0.5:
            lines.append(f"the {rng.choice(animals)} {rng.choice(verbs_a)} in the field")
        else:
            lines.append(f"the {rng.choice(foods)} {rng.choice(verbs_f)} good at dinner")
    p = tmp_path / "corpus.txt"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p
