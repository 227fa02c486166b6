"""Malicious and random .cemb files over every registered stored kind: each is refused with the
project's FormatError naming the file, or loads and works; never another exception, a hang or a
big allocation.

Cases are edits of the golden files (tests/data/golden) with every checksum recomputed, so they
reach the header and attribute checks (tests/_craft.py builds them). CI runs a deterministic
sample of the crafted corpus in a child process whose address space is capped, plus hypothesis
strategies in this process. COMPACTEMB_FUZZ_LONG=1 runs the whole corpus and 5,000 random cases.
"""

from __future__ import annotations

import collections
import copy
import json
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compactemb import FormatError, load
from compactemb.storage import registered_kinds

sys.path.insert(0, str(Path(__file__).parent))
import _craft  # noqa: E402

LONG = os.environ.get("COMPACTEMB_FUZZ_LONG") == "1"
CLEAN = {"ok", "format"}


def _summary(records):
    return collections.Counter(r["result"] for r in records)


def _failures(records):
    return [(r["case"], r["result"], r.get("message", "")[:160]) for r in records
            if r["result"] not in CLEAN]


def test_golden_files_cover_every_registered_kind():
    """The seeds reach every stored kind, so the corpus exercises each kind's from_state."""
    seen_files, seen_components = set(), set()
    for path in _craft.GOLDEN.glob("*.cemb"):
        header, _ = _craft.parse(path)
        seen_files.add(header["kind"])
        stack = [d["type"] for d in header["components"].values()]
        for d in header["components"].values():
            for key in ("inner_kind", "head_kind", "tail_kind"):
                if key in d["attrs"]:
                    stack.append(d["attrs"][key])
        seen_components.update(stack)
    kinds = registered_kinds()
    assert set(kinds["files"]) <= seen_files
    assert set(kinds["components"]) <= seen_components


def test_crafted_corpus_gives_format_errors_and_nothing_else():
    records = _craft.run_isolated(crafted=True, n_random=3000 if LONG else 0,
                                  stride=1 if LONG else 14, timeout_s=5.0, memory_mb=1024)
    assert len(records) >= (5000 if LONG else 350)
    assert _failures(records) == []
    by_category = collections.defaultdict(collections.Counter)
    for r in records:
        by_category[r["category"]][r["result"]] += 1
    # every unedited golden file loads and works; every category of edit is refused somewhere
    assert by_category["valid"] == {"ok": len(list(_craft.GOLDEN.glob("*.cemb")))}
    for category in ("header-types", "json-limits", "array-entries", "component-types",
                     "attributes", "array-contents", "sizes"):
        assert by_category[category]["format"] > 0, (category, by_category[category])
    assert max(r["seconds"] for r in records) < 3.0


# the files of the issue, by case id: each must be refused
NAMED = [
    "classifier:attributes:head.n_buckets=0", "classifier:attributes:head.n_buckets=-1",
    "classifier:attributes:head.n_buckets=1.5", "classifier:attributes:head.ngrams=0",
    "classifier:attributes:head.ngrams=-1", "classifier:attributes:head.ngrams=1099511627776",
    "classifier:attributes:head.tokenizer.pattern=(a+)+$",
    "classifier:attributes:head.tokenizer={'unknown_keywor",
    "classifier:attributes:head.params={'unknown_keywor",
    "table_dense:array-entries:table/weights.bigendian",
    "table_dense:array-entries:table/weights.wrap0",
    "table_pq:array-entries:table/codebooks.huge-empty",
    "table_dense:array-entries:table/weights.shape=[1180591620717411",
    "table_dense:header-types:kind=['table']", "table_dense:header-types:arrays=[]",
    "table_dense:header-types:meta=[]", "table_dense:component-types:table.type=['dense']",
    "table_dense:json-limits:nest1000", "table_dense:json-limits:digits100001",
    "table_dense:json-limits:infinity", "keyed_vectors:array-contents:vocab/key_bytes.allff",
    "table_pruned:attributes:table.n_keep=0", "table_hashed:attributes:table.n_rows=1000000000",
    "factors:array-contents:seen/indices=2147483647",
    "factors:attributes:seen.n_items=2147483647",
]


def test_the_files_the_issue_names_are_refused():
    records = _craft.run_isolated(crafted=True, only="|".join(NAMED), timeout_s=5.0,
                                  memory_mb=1024)
    found = {r["case"]: r["result"] for r in records}
    for name in NAMED:
        matching = [case for case in found if name in case]
        assert matching, f"no crafted case {name}"
        for case in matching:
            assert found[case] == "format", (case, found[case])


# -- hypothesis: any JSON value in any attribute or array entry field ---------------------------

_SEEDS = {p.stem: _craft.parse(p) for p in sorted(_craft.GOLDEN.glob("*.cemb"))}

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2 ** 70), max_value=2 ** 70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=6)


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield prefix + (k,)
            yield from _paths(v, prefix + (k,))


@pytest.fixture(scope="module")
def warm():
    for path in _craft.GOLDEN.glob("*.cemb"):  # numba compiles once, outside the examples
        _craft.use(load(path))


@settings(max_examples=150 if not LONG else 3000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_any_value_anywhere_is_refused_or_works(tmp_path_factory, warm, data):
    stem = data.draw(st.sampled_from(sorted(_SEEDS)))
    header, payloads = _SEEDS[stem]
    header = copy.deepcopy(header)
    where = data.draw(st.sampled_from(["components", "arrays"]))
    paths = sorted(_paths(header[where]), key=str)
    path = data.draw(st.sampled_from(paths))
    value = data.draw(json_values)
    node = header[where]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    target = tmp_path_factory.mktemp("fuzz") / "case.cemb"
    target.write_bytes(_craft.build(header, payloads))
    try:
        obj = load(target)
    except FormatError as exc:
        assert str(target) in str(exc)
        return
    _craft.use(obj)  # loaded: it must also work


def test_format_errors_name_the_file_and_the_field(tmp_path):
    header, payloads = _SEEDS["classifier"]
    header = copy.deepcopy(header)
    header["components"]["head"]["attrs"]["n_buckets"] = 0
    target = tmp_path / "bad.cemb"
    target.write_bytes(_craft.build(header, payloads))
    with pytest.raises(FormatError) as info:
        load(target)
    assert str(target) in str(info.value) and "n_buckets" in str(info.value)
    header, payloads = _SEEDS["table_dense"]
    header = copy.deepcopy(header)
    header["arrays"]["table/weights"]["shape"] = [2 ** 70]
    target.write_bytes(_craft.build(header, payloads))
    with pytest.raises(FormatError, match="table/weights.shape"):
        load(target)


def test_crafted_case_ids_are_stable():
    """The sample CI runs is deterministic: the same ids on every run."""
    first = [c[0] for c in _craft.select_cases(True, 0, 0, None, 97)]
    second = [c[0] for c in _craft.select_cases(True, 0, 0, None, 97)]
    assert first == second and len(set(first)) == len(first)
    assert json.dumps(first)
