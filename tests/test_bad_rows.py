"""on_bad_rows="skip": malformed rows are left out and listed; the rest reads as a clean file."""

import numpy as np
import pytest

from compactemb.cli import main
from compactemb.exceptions import InputError
from compactemb.interactions_io import read_interactions

GOOD = ["u1,i1,5", "u1,i2,3", "u2,i1,1", "u3,i3,2.5", "u2,i3,4"]
BAD = {2: "u9,i9", 4: "u8,i8,abc", 5: ",i1,2", 7: "u7,i7,-1", 8: 'u6,"i6,2',
       9: "u5,i5,inf"}


def _mixed_file(tmp_path, name="log.csv"):
    """GOOD with BAD rows put at the given (1-based) line numbers."""
    lines, good = [], iter(GOOD)
    for n in range(1, len(GOOD) + len(BAD) + 1):
        lines.append(BAD[n] if n in BAD else next(good))
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def _same(a, b):
    assert list(a.user_vocab.keys) == list(b.user_vocab.keys)
    assert list(a.item_vocab.keys) == list(b.item_vocab.keys)
    np.testing.assert_array_equal(a.matrix.toarray(), b.matrix.toarray())


@pytest.mark.parametrize("engine", ["python", "auto"])
def test_skip_equals_the_file_without_its_bad_rows(tmp_path, engine):
    mixed = _mixed_file(tmp_path)
    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join(GOOD) + "\n")
    got = read_interactions(mixed, engine=engine, on_bad_rows="skip")
    _same(got, read_interactions(clean, engine="python"))
    assert len(got.skipped_rows) == len(BAD)
    lines = [int(r.split(": line ")[1].split(":")[0]) for r in got.skipped_rows]
    assert lines == sorted(BAD)
    assert all(r.startswith(f"{mixed}: line ") for r in got.skipped_rows)
    assert "not a number" in got.skipped_rows[1] and "negative" in got.skipped_rows[3]


def test_raise_is_the_default_and_names_the_first_bad_line(tmp_path):
    mixed = _mixed_file(tmp_path)
    with pytest.raises(InputError, match=r"line 2: expected at least 3 fields"):
        read_interactions(mixed)
    assert read_interactions(mixed, on_bad_rows="skip").matrix.nnz == len(GOOD)


def test_a_file_of_only_bad_rows_is_still_an_error(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("a,b,x\nc,d,y\n")
    with pytest.raises(InputError, match="no interactions"):
        read_interactions(path, header=False, on_bad_rows="skip")


def test_unknown_policy_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match="on_bad_rows must be one of raise, skip"):
        read_interactions(_mixed_file(tmp_path), on_bad_rows="ignore")


def test_cli_skip_trains_and_says_how_many(tmp_path, capsys):
    rng = np.random.default_rng(0)
    rows = [f"u{u},i{i},1" for u, i in rng.integers(0, 30, (400, 2))]
    rows[10] = "u1,i2,oops"
    rows[200] = "u3"
    path = tmp_path / "log.csv"
    path.write_text("\n".join(rows) + "\n")
    out = tmp_path / "m.cemb"
    assert main(["train", "items", str(path), "-o", str(out), "--method", "svd", "--dim", "4",
                 "-q"]) == 1
    assert "line 11: weight 'oops' is not a number" in capsys.readouterr().err
    assert main(["train", "items", str(path), "-o", str(out), "--method", "svd", "--dim", "4",
                 "-q", "--on-bad-rows", "skip"]) == 0
    err = capsys.readouterr().err
    assert "left out 2 bad rows" in err and "line 11:" in err
    assert out.exists()
