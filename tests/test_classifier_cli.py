"""The classifier, cluster and plot commands, called in-process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compactemb.cli import main
from compactemb.keyed import KeyedVectors
from compactemb.tables import DenseTable
from compactemb.vocab import Vocab


def write_data(path, n, seed, fmt="fasttext"):
    rng = np.random.default_rng(seed)
    lines = ["label\ttext"] if fmt == "tsv" else []
    for _ in range(n):
        lab = "pos" if rng.random() < 0.5 else "neg"
        word = rng.choice(["superb", "lovely"] if lab == "pos" else ["dull", "awful"])
        text = " ".join([*rng.choice(["the", "film", "was", "plot"], 4), word])
        lines.append(f"{lab}\t{text}" if fmt == "tsv" else f"__label__{lab} {text}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_json(capsys, argv):
    capsys.readouterr()
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_train_eval_predict_quantize(tmp_path, capsys):
    train = write_data(tmp_path / "train.txt", 300, 0)
    test = write_data(tmp_path / "test.tsv", 100, 1, fmt="tsv")
    model = tmp_path / "m.cemb"
    out = run_json(capsys, ["train", "classifier", str(train), "-o", str(model), "--dim", "8",
                            "--buckets", "1000", "--epochs", "10", "--learning-rate", "0.5",
                            "--threads", "1", "--test", str(test)])
    assert out["examples"] == 300 and out["test"]["accuracy"] == 1.0
    info = run_json(capsys, ["info", str(model)])
    assert info["kind"] == "classifier"
    for name, comp in info["components"].items():  # every figure info prints is explained
        figures = set(comp) - {"type"}
        assert figures <= set(info["explanations"]["components"][name]), name
    assert "one stored array" not in info["explanations"]["memory"].values()
    assert info["memory"]["parts"]["input_table.weights"] == out["model_bytes"] - sum(
        v for k, v in info["memory"]["parts"].items()
        if k != "input_table.weights" and not k.endswith("index_dict"))
    res = run_json(capsys, ["eval", "classifier", str(model), str(test)])
    assert res["accuracy"] == 1.0 and res["macro_f1"] == 1.0 and res["n"] == 100
    pred = run_json(capsys, ["predict", str(model), "a superb film", "dull plot", "-k", "2"])
    assert [p["labels"][0]["label"] for p in pred] == ["pos", "neg"]
    assert pytest.approx(sum(x["probability"] for x in pred[0]["labels"]), abs=1e-5) == 1.0
    small = tmp_path / "s.cemb"
    q = run_json(capsys, ["quantize", str(model), "-o", str(small), "--method", "int8",
                          "--cutoff", "30", "--retrain", "--train", str(train), "--hash-words",
                          "--test", str(test)])
    assert q["bytes_after"] < q["bytes_before"] / 2 and q["accuracy_after"] == 1.0
    assert run_json(capsys, ["eval", "classifier", str(small), str(test)])["accuracy"] == 1.0


def test_classifier_errors(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("__label__a good\nno label\n", encoding="utf-8")
    assert main(["train", "classifier", str(bad), "-o", str(tmp_path / "m.cemb")]) == 1
    assert "bad.txt: line 2: no label" in capsys.readouterr().err
    one = tmp_path / "one.txt"
    one.write_text("__label__a good\n__label__a fine\n", encoding="utf-8")
    assert main(["train", "classifier", str(one), "-o", str(tmp_path / "m.cemb")]) == 1
    assert "single class" in capsys.readouterr().err
    assert not (tmp_path / "m.cemb").exists()
    vec = tmp_path / "v.cemb"
    KeyedVectors(Vocab(["a", "b"]), DenseTable(np.eye(2))).save(vec)
    assert main(["predict", str(vec), "text"]) == 1
    assert "not a classifier" in capsys.readouterr().err


def test_cluster_and_plot(tmp_path, capsys):
    rng = np.random.default_rng(0)
    centers = rng.normal(scale=5, size=(3, 6))
    x = np.concatenate([c + 0.1 * rng.normal(size=(10, 6)) for c in centers])
    keys = [f"k{i}" for i in range(30)]
    path = tmp_path / "v.cemb"
    KeyedVectors(Vocab(keys), DenseTable(x.astype(np.float32))).save(path)
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"k{i} g{i // 10}\n" for i in range(30)), encoding="utf-8")
    out = run_json(capsys, ["cluster", str(path), "--clusters", "3", "--labels", str(labels),
                            "--top", "2"])
    assert sorted(c["size"] for c in out["clusters"]) == [10, 10, 10]
    assert out["nmi"] == pytest.approx(1.0) and out["ari"] == pytest.approx(1.0)
    assert all(len(c["members"]) == 2 for c in out["clusters"])
    # the old spelling: same result, one note
    assert main(["cluster", str(path), "--k", "3", "--labels", str(labels), "--top", "2",
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == out
    assert captured.err.strip() == "compactemb: note: --k is deprecated, use --clusters"
    subset = tmp_path / "keys.txt"
    subset.write_text("k0\nk1\nk15\nk25\nnope\nk99\n", encoding="utf-8")
    out = run_json(capsys, ["cluster", str(path), "--clusters", "2", "--keys", str(subset)])
    assert out["n_keys"] == 4 and out["unknown_keys"] == 2
    assert main(["cluster", str(path), "--clusters", "2", "--keys", str(subset), "-q"]) == 0
    err = capsys.readouterr().err
    assert "skipped 2 of 6 keys" in err and len(err.strip().splitlines()) == 1
    none = tmp_path / "none.txt"
    none.write_text("nope\n", encoding="utf-8")
    assert main(["cluster", str(path), "--keys", str(none)]) == 1
    assert "none of its 1 keys is in the file's vocabulary" in capsys.readouterr().err
    assert main(["cluster", str(path), "--clusters", "50"]) == 1
    assert "--clusters 50 is more than the 30 keys" in capsys.readouterr().err
    pytest.importorskip("matplotlib")
    png = tmp_path / "p.png"
    info = run_json(capsys, ["plot", str(path), "-o", str(png), "--clusters", "3"])
    assert info["groups"] == 3 and png.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", str(path), "-o", str(png), "--k", "3", "-q"]) == 0
    assert "--k is deprecated, use --clusters" in capsys.readouterr().err
    # --labels without --keys: the labelled keys are drawn even beyond --max-keys
    info = run_json(capsys, ["plot", str(path), "-o", str(png), "--labels", str(labels),
                             "--max-keys", "5"])
    assert info["points"] == 30 and info["groups"] == 3
    info = run_json(capsys, ["plot", str(path), "-o", str(png), "--keys", str(subset)])
    assert info["points"] == 4 and info["unknown_keys"] == 2


def test_compress_takes_a_classifier_and_quantize_is_its_alias(tmp_path, capsys):
    train = write_data(tmp_path / "train.txt", 300, 0)
    test = write_data(tmp_path / "test.txt", 100, 1)
    model = tmp_path / "m.cemb"
    run_json(capsys, ["train", "classifier", str(train), "-o", str(model), "--dim", "8",
                      "--buckets", "1000", "--epochs", "10", "--threads", "1"])
    new, old, direct = tmp_path / "new.cemb", tmp_path / "old.cemb", tmp_path / "direct.cemb"
    c = run_json(capsys, ["compress", str(model), "-o", str(new), "--method", "pruned+int8",
                          "--keep", "30", "--retrain", "--train", str(train), "--hash-words",
                          "--test", str(test)])
    assert c["kind"] == "classifier" and c["accuracy_after"] == 1.0
    q = run_json(capsys, ["quantize", str(model), "-o", str(old), "--method", "int8",
                          "--keep", "30", "--retrain", "--train", str(train), "--hash-words"])
    assert q["cutoff"] == 30 and c["table_bytes_after"] == q["bytes_after"]
    assert new.read_bytes() == old.read_bytes()
    # the reference: the Python method on the loaded model, saved
    from compactemb import load
    from compactemb.labelled import read_labelled

    texts, labels = read_labelled(train)
    load(model).compress("int8", cutoff=30, retrain=True, texts=texts, labels=labels,
                         hash_words=True).save(direct)
    assert direct.read_bytes() == new.read_bytes()
    # the old spelling --cutoff still works, with a note
    assert main(["quantize", str(model), "-o", str(old), "--method", "int8", "--cutoff", "30",
                 "--retrain", "--train", str(train), "--hash-words", "-q"]) == 0
    assert "--cutoff is deprecated, use --keep" in capsys.readouterr().err
    assert old.read_bytes() == new.read_bytes()
    # --keep above the row count: every row kept, one note
    big = run_json(capsys, ["compress", str(model), "-o", str(new), "--method", "pruned+int4",
                            "--keep", "1000000"])
    assert big["keep_capped"] == [{"table": "table", "requested": 1000000,
                                   "rows": load(model).n_rows}]
    assert main(["compress", str(model), "-o", str(new), "--method", "pruned+int4", "--keep",
                 "1000000", "-q"]) == 0
    err = capsys.readouterr().err
    assert "note: --keep 1000000 is more than the" in err and len(err.strip().splitlines()) == 1
    # classifier options on other files: a clear error
    vec = tmp_path / "v.cemb"
    KeyedVectors(Vocab(["a", "b"]), DenseTable(np.eye(2, dtype=np.float32))).save(vec)
    assert main(["compress", str(vec), "-o", str(new), "--method", "int8", "--retrain"]) == 1
    assert "--retrain apply to classifiers; " in capsys.readouterr().err
    assert main(["compress", str(model), "-o", str(new), "--method", "int8", "--retrain"]) == 1
    assert "--retrain needs --train" in capsys.readouterr().err


def test_train_classifier_char_ngrams_and_bits(tmp_path, capsys):
    from compactemb.storage import load

    train = write_data(tmp_path / "train.txt", 300, 0)
    model = tmp_path / "m.cemb"
    out = run_json(capsys, ["train", "classifier", str(train), "-o", str(model), "--dim", "8",
                            "--buckets", "1000", "--epochs", "10", "--threads", "1",
                            "--minn", "2", "--maxn", "4", "--bits", "1"])
    clf = load(model)
    assert (clf.minn, clf.maxn, clf.bits, clf.table_.kind) == (2, 4, 1, "bit1")
    assert out["table"] == "bit1" and out["ngram_rows"] > 0
    # an unseen inflection is classified by its char n-grams
    assert clf.predict(["superbly", "awfully"]) == [["pos"], ["neg"]]
    capsys.readouterr()
    assert main(["train", "classifier", str(train), "-o", str(model), "--minn", "5",
                 "--maxn", "3"]) != 0
    assert "--minn 5 --maxn 3" in capsys.readouterr().err
