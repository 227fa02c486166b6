"""frontier writes its files as a set: a failure leaves none of them (nor a folder it made)."""

import pytest

from compactemb import frontier as frontier_module

RESULT = {"input": "w.cemb", "primary": "quality", "n_rows": 10, "rows": [
    {"label": "float32", "method": "float32", "bytes": 400, "ratio": 1.0, "quality": 1.0,
     "relative": 1.0, "pareto": True, "seconds": 0.0},
    {"label": "int8", "method": "int8", "bytes": 110, "ratio": 3.6, "quality": 0.99,
     "relative": 0.99, "pareto": True, "seconds": 0.0}]}


def _failing_plot(result, path):
    raise OSError(28, "No space left on device")


def test_failure_removes_the_folder_it_created(tmp_path, monkeypatch):
    monkeypatch.setattr(frontier_module, "plot_frontier", _failing_plot)
    out = tmp_path / "new" / "front"
    with pytest.raises(OSError, match="No space left"):
        frontier_module.write_frontier(RESULT, out, plot=True)
    assert not out.exists()


def test_failure_in_an_existing_folder_keeps_the_folder_and_others_files(tmp_path, monkeypatch):
    monkeypatch.setattr(frontier_module, "plot_frontier", _failing_plot)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(OSError):
        frontier_module.write_frontier(RESULT, tmp_path, plot=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_success_writes_all_files(tmp_path):
    paths = frontier_module.write_frontier(RESULT, tmp_path / "f", plot=False)
    assert sorted(paths) == ["json", "markdown"]
    assert (tmp_path / "f" / "frontier.json").stat().st_size > 0
    assert "int8" in (tmp_path / "f" / "frontier.md").read_text()
