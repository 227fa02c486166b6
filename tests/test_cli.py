"""The command line, called in-process: results, JSON keys, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from compactemb.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_memory_vocab_json(capsys):
    code, out, _ = run(capsys, "memory", "--vocab", "10000", "--dim", "300", "--json")
    r = json.loads(out)
    assert code == 0
    assert r["onehot_dense_bytes"] == 400_000_000 and r["table_bytes"] == 12_000_000
    assert r["ratio_onehot_dense_to_table"] == pytest.approx(33.333, abs=1e-3)
    assert r["onehot_values_per_row"] == 10_000 and r["embedding_values_per_row"] == 300
    assert "onehot_sparse_bytes" in r and r["where_the_win_lies"]


def test_memory_users_items_json_and_text(capsys, tmp_path):
    code, out, _ = run(capsys, "memory", "--users", "1000000", "--items", "100000", "--dim", "50",
                       "--json")
    r = json.loads(out)
    assert code == 0 and r["onehot_width_per_interaction"] == 1_100_000
    assert r["embedding_values_per_interaction"] == 100
    assert r["user_table_bytes"] == 200_000_000 and r["item_table_bytes"] == 20_000_000
    code, out, _ = run(capsys, "memory", "--vocab", "5000", "--dim", "100", "--plot",
                       str(tmp_path / "p.png"))
    assert code == 0 and "one-hot dense" in out and (tmp_path / "p.png").exists()


def test_train_info_neighbors_eval(capsys, tmp_path, austen_path):
    out_file = tmp_path / "austen.cemb"
    code, out, err = run(capsys, "train", "words", austen_path, "-o", str(out_file),
                         "--method", "svd", "--dim", "40", "--json")
    assert code == 0, err
    assert json.loads(out)["vocab_size"] > 5000
    code, out, _ = run(capsys, "info", str(out_file), "--json")
    info = json.loads(out)
    assert info["kind"] == "keyed_vectors"
    parts = info["memory"]["parts"]
    assert parts["table.weights"] == info["components"]["table"]["n_rows"] * 40 * 4
    assert info["meta"]["params"]["dim"] == 40
    code, out, _ = run(capsys, "neighbors", str(out_file), "brother", "-k", "5", "--json")
    assert code == 0 and len(json.loads(out)["brother"]) == 5
    code, out, _ = run(capsys, "analogy", str(out_file), "brother", "sister", "father")
    assert code == 0 and "father" not in out.split(":")[-1].split(",")[0]
    q = tmp_path / "q.txt"
    q.write_text(": family\nbrother sister father mother\nbrother sister xyzzy abc\n")
    sim = tmp_path / "sim.tsv"
    sim.write_text("brother\tsister\t9\nbrother\tcarriage\t1\nfather\tmother\t8\n"
                   "letter\tnote\t7\n")
    code, out, err = run(capsys, "eval", "words", str(out_file), "--analogies", str(q),
                         "--similarity", str(sim), "--json")
    r = json.loads(out)
    assert code == 0, err
    assert r["analogy_coverage"] == 0.5 and r["analogy_accuracy"] in (0.0, 1.0)
    assert set(r["similarity"]["sim.tsv"]) >= {"spearman", "coverage"}
    assert r["similarity"]["sim.tsv"]["coverage"] == 1.0


def test_train_items_and_vocab(capsys, tmp_path):
    data = tmp_path / "inter.csv"
    rows = [f"u{u},i{(u * 7 + j) % 30},{1 + j % 3}" for u in range(40) for j in range(6)]
    data.write_text("user,item,weight\n" + "\n".join(rows) + "\n")
    code, out, err = run(capsys, "train", "items", str(data), "-o", str(tmp_path / "f.cemb"),
                         "--method", "svd", "--dim", "8", "--json")
    assert code == 0, err
    assert json.loads(out)["users"] == 40
    code, out, _ = run(capsys, "info", str(tmp_path / "f.cemb"), "--json")
    comp = json.loads(out)["memory"]["onehot_comparison"]
    assert comp["onehot_width_per_interaction"] == 40 + 30
    assert comp["embedding_values_per_interaction"] == 16
    corpus = tmp_path / "c.txt"
    corpus.write_text("a b a c\nb a\n")
    code, out, _ = run(capsys, "vocab", str(corpus), "-o", str(tmp_path / "v.cemb"),
                       "--min-count", "2", "--json")
    assert code == 0 and json.loads(out)["most_frequent"] == ["a", "b"]


@pytest.mark.parametrize("content,argv_extra,match", [
    (b"", [], "no tokens"),
    (b"\x00\x00\x00\x01binary", [], "binary"),
    (b"caf\xe9 au lait\n", [], "line 1: not valid UTF-8"),
    (b"a b c d e f\n" * 10, ["--dim", "0"], "--dim must be > 0"),
    (b"a b c d e f\n" * 10, ["--dim", "6"], "smaller than the vocabulary size"),
])
def test_train_errors_are_one_line_and_write_nothing(capsys, tmp_path, content, argv_extra,
                                                     match):
    corpus = tmp_path / "c.txt"
    corpus.write_bytes(content)
    out = tmp_path / "out.cemb"
    code, _, err = run(capsys, "train", "words", str(corpus), "-o", str(out), "--min-count",
                       "1", "--dim", "4", *argv_extra)
    assert code == 1
    assert err.startswith("compactemb: error:") and match in err
    assert len(err.strip().splitlines()) == 1  # no traceback
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]


def test_usage_errors(capsys, tmp_path):
    code, _, err = run(capsys, "train", "words", "x.txt", "-o", "y.cemb", "--bogus")
    assert code == 2 and "unrecognized arguments: --bogus" in err
    code, _, err = run(capsys, "neighbors", str(tmp_path / "missing.cemb"), "w")
    assert code == 1 and "no such file" in err
    code, _, err = run(capsys, "memory", "--dim", "10")
    assert code == 1 and "--vocab" in err


def test_unknown_word_query(capsys, tmp_path):
    import numpy as np

    from compactemb import DenseTable, KeyedVectors, Vocab

    KeyedVectors(Vocab(["a", "b", "c"]), DenseTable(np.eye(3, dtype=np.float32))).save(
        tmp_path / "kv.cemb")
    code, _, err = run(capsys, "neighbors", str(tmp_path / "kv.cemb"), "a", "zebra")
    assert code == 1 and "'zebra'" in err and "not in the vocabulary" in err


def test_demo_writes_report_and_plot(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    code, out, err = run(capsys, "demo", "--out", str(tmp_path / "d"), "--dim", "50", "--quiet")
    assert code == 0, err
    report = json.loads((tmp_path / "d" / "report.json").read_text())
    assert report["memory_measured"]["onehot_dense_batch_bytes"] == 1024 * report["vocab"][
        "size"] * 4
    assert report["memory_measured"]["embedded_batch_bytes"] == 1024 * 50 * 4
    assert report["evaluation"]["demo_analogies"]["accuracy"] > 0.2
    assert (tmp_path / "d" / "memory.png").read_bytes()[:4] == b"\x89PNG"
    assert "sister" in [w for w, _ in report["neighbors"]["brother"]]


def test_import_is_light():
    code = ("import sys, time; t = time.perf_counter(); import compactemb; "
            "print('numba' in sys.modules, time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0] == "False"  # no numba kernel is imported, let alone compiled, at import


def test_queries_are_normalised_as_the_vocabulary_was_built(capsys, tmp_path):
    import numpy as np

    from compactemb import DenseTable, KeyedVectors, Vocab

    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    words = ["king", "queen", "man", "woman"]
    lowered = {"params": {"tokenizer": {"pattern": "[^\\W\\d_]+", "lowercase": True}}}
    KeyedVectors(Vocab(words), DenseTable(x), lowered).save(tmp_path / "low.cemb")
    KeyedVectors(Vocab(words), DenseTable(x)).save(tmp_path / "kept.cemb")
    code, out, err = run(capsys, "neighbors", str(tmp_path / "low.cemb"), "King", "queen", "-k",
                         "2", "--json")
    assert code == 0, err
    res = json.loads(out)
    code, ref, _ = run(capsys, "neighbors", str(tmp_path / "low.cemb"), "king", "-k", "2",
                       "--json")
    assert res["King"] == json.loads(ref)["king"] and len(res["queen"]) == 2
    code, out, _ = run(capsys, "analogy", str(tmp_path / "low.cemb"), "Man", "King", "Woman",
                       "--json")
    code2, ref, _ = run(capsys, "analogy", str(tmp_path / "low.cemb"), "man", "king", "woman",
                        "--json")
    assert code == code2 == 0
    assert json.loads(out)["answers"] == json.loads(ref)["answers"]
    # no record of lowercasing: a query is looked up as typed
    code, _, err = run(capsys, "neighbors", str(tmp_path / "kept.cemb"), "King")
    assert code == 1 and "'King'" in err


def test_info_explains_every_number(capsys, tmp_path):
    code, _, err = run(capsys, "train", "items", str(_interactions(tmp_path)), "-o",
                       str(tmp_path / "bpr.cemb"), "--method", "bpr", "--dim", "8", "-q")
    assert code == 0, err
    code, out, _ = run(capsys, "info", str(tmp_path / "bpr.cemb"), "--json")
    info = json.loads(out)
    ex = info["explanations"]
    for name, comp in info["components"].items():
        numbers = set(comp) - {"type"}
        assert set(numbers) <= set(ex["components"][name]), name
    assert set(info["memory"]["parts"]) <= set(ex["memory"]) and "total" in ex["memory"]
    assert ex["components"]["item_table"]["dim"].startswith("9 = 8 learned factors + 1 bias")
    code, text, _ = run(capsys, "info", str(tmp_path / "bpr.cemb"))
    assert "What the numbers are:" in text and "1 bias column" in text


def _interactions(tmp_path):
    import numpy as np

    rng = np.random.default_rng(0)
    path = tmp_path / "inter.txt"
    path.write_text("\n".join(f"u{u} i{i}" for u in range(30)
                              for i in rng.choice(40, 6, replace=False)) + "\n")
    return path
