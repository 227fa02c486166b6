"""Document vectors (mean, SIF) against slow obvious loops and scikit-learn's TruncatedSVD; the
embed/search commands in-process and through Milvus Lite."""

from __future__ import annotations

import json

import numpy as np
import pytest

from compactemb import DenseTable, KeyedVectors, Tokenizer, Vocab
from compactemb.cli import main
from compactemb.docvec import (
    doc_vectors,
    embed_query,
    embed_texts,
    first_component,
    read_texts,
    search_documents,
)
from compactemb.exceptions import InputError
from compactemb.tables import Int8Table

WORDS = ["good", "bad", "film", "plot", "actor", "dull", "great", "the", "a", "story"]


@pytest.fixture
def words():
    rng = np.random.default_rng(0)
    counts = np.array([50, 40, 300, 80, 30, 20, 45, 5000, 4000, 60])
    return KeyedVectors(Vocab(WORDS, counts=counts),
                        DenseTable(rng.standard_normal((len(WORDS), 16)).astype(np.float32)))


TEXTS = ["the good film", "a bad plot", "the actor was dull , dull", "great story !",
         "nothing known here", "the film the plot the actor"]


def _slow(words, texts, method, a=1e-3):
    """One text at a time, one word at a time: the definition written out."""
    tok = Tokenizer()
    total = words.vocab.counts.sum()
    out = []
    for t in texts:
        known = [w for w in tok(t) if w in words.vocab]
        v = np.zeros(words.dim)
        for w in known:
            weight = 1.0 if method == "mean" else a / (a + words.vocab.counts[words.vocab[w]] /
                                                      total)
            v += weight * words[w]
        out.append(v / len(known) if known else v)
    return np.array(out)


@pytest.mark.parametrize("method", ["mean", "sif"])
def test_embed_equals_the_definition(words, method):
    got = embed_texts(words, TEXTS, method=method)
    np.testing.assert_allclose(got, _slow(words, TEXTS, method), rtol=1e-5, atol=1e-6)
    assert not got[4].any()  # no known word: the zero vector


def test_first_component_matches_truncated_svd_and_removal_is_orthogonal(words):
    from sklearn.decomposition import TruncatedSVD

    x = embed_texts(words, TEXTS * 3, method="sif")
    u = first_component(x)
    ref = TruncatedSVD(n_components=1, algorithm="arpack").fit(x).components_[0]
    assert abs(abs(float(u @ ref)) - 1) < 1e-5
    docs = doc_vectors(words, TEXTS * 3, ids=range(18), method="sif",
                       remove_first_component=True)
    removed = docs.table.rows(0, 18)
    np.testing.assert_allclose(removed @ u, 0, atol=1e-5)
    np.testing.assert_allclose(removed, x - np.outer(x @ ref, ref), atol=1e-5)


def test_compressed_word_table_embeds_like_its_decoded_rows(words):
    q = Int8Table.from_dense(words.table)
    kq = KeyedVectors(words.vocab, q)
    dense = KeyedVectors(words.vocab, DenseTable(q.rows(0, len(WORDS))))
    np.testing.assert_allclose(embed_texts(kq, TEXTS, method="sif"),
                               embed_texts(dense, TEXTS, method="sif"), rtol=1e-5, atol=1e-6)


def test_query_is_embedded_like_the_documents_and_search_is_exact(words):
    docs = doc_vectors(words, TEXTS, method="sif", remove_first_component=True)
    assert docs.vocab.keys == [1, 2, 3, 4, 5, 6]
    q = embed_query(docs, TEXTS[1], words=words)
    np.testing.assert_allclose(q[0], docs[2], atol=1e-6)
    res = search_documents(docs, "the good film", k=3, words=words)
    x = docs.table.rows(0, 6)
    qv = embed_query(docs, "the good film", words=words)[0]
    cos = x @ qv / np.maximum(np.linalg.norm(x, axis=1) * np.linalg.norm(qv), 1e-30)
    cos[np.linalg.norm(x, axis=1) == 0] = -np.inf
    assert [k for k, _ in res] == [int(i) + 1 for i in np.argsort(-cos)[:3]]
    with pytest.raises(InputError, match="no word of the query"):
        search_documents(docs, "zzz qqq", words=words)
    with pytest.raises(InputError, match="unique"):
        doc_vectors(words, TEXTS[:2], ids=["a", "a"])


def test_read_texts_tsv_columns(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_text("id\tlabel\ttext\nr1\t0\tthe good film\nr2\t1\ta bad plot\n", encoding="utf-8")
    assert read_texts(p, id_column="id") == (["r1", "r2"], ["the good film", "a bad plot"])
    assert read_texts(p, text_column="text")[0] == [1, 2]
    with pytest.raises(InputError, match="no column 'doc'"):
        read_texts(p, id_column="doc")


def test_cli_embed_search_in_process_and_in_milvus_lite(capsys, tmp_path, words):
    words.save(tmp_path / "w.cemb")
    texts = tmp_path / "t.tsv"
    texts.write_text("doc\ttext\n" + "".join(f"d{i}\t{t}\n" for i, t in enumerate(TEXTS)),
                     encoding="utf-8")
    out = tmp_path / "docs.cemb"
    assert main(["embed", str(tmp_path / "w.cemb"), str(texts), "-o", str(out), "--method", "sif",
                 "--id-column", "doc", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert rep["documents"] == 6 and rep["empty_texts"] == 1
    assert main(["search", str(out), "a bad plot", "-k", "3", "--json"]) == 0
    local = json.loads(capsys.readouterr().out)["a bad plot"]
    assert local[0]["key"] == "d1" and abs(local[0]["score"] - 1) < 1e-5
    uri = str(tmp_path / "docs.db")
    assert main(["milvus", "push", str(out), "--uri", uri, "--collection", "docs", "-q"]) == 0
    capsys.readouterr()
    assert main(["search", str(out), "a bad plot", "-k", "3", "--milvus", uri, "--collection",
                 "docs", "--json"]) == 0
    remote = json.loads(capsys.readouterr().out)["a bad plot"]
    assert [r["key"] for r in remote] == [r["key"] for r in local]
    np.testing.assert_allclose([r["score"] for r in remote], [r["score"] for r in local],
                               atol=1e-4)
    assert main(["search", str(out), "hello", "--collection", "docs"]) == 1
    assert "--collection needs --milvus" in capsys.readouterr().err
