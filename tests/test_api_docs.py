"""The public API is documented, and its documented examples run.

Every class, function and public method a public module exports carries a numpydoc docstring,
with a ``Parameters`` section whenever it takes parameters; every ``Examples`` section of the
package's docstrings runs (doctest).

ruff's pydocstyle rules (``D``) check the docstrings' form in the public modules, but ruff counts a
function defined in a ``_private.py`` module as private even when a package re-exports it (most of
``compactemb.tables`` and ``compactemb.train`` do), so this test walks what users actually import:
each module's ``__all__``, or its public names defined in it when it has no ``__all__``.
"""

from __future__ import annotations

import enum
import importlib
import inspect
import pkgutil
import re

import pytest

import compactemb

# the command line documents itself through --help; the demo is a script
NOT_API = {"compactemb.cli", "compactemb.demo"}
# every module without a leading underscore in its dotted name, so a new public module is
# checked from the day it is added
PUBLIC_MODULES = ["compactemb"] + sorted(
    m.name for m in pkgutil.iter_modules(compactemb.__path__, "compactemb.")
    if not m.name.rsplit(".", 1)[1].startswith("_") and m.name not in NOT_API)

_SECTION = re.compile(r"^\s*{}\n\s*-{{3,}}\s*$", re.MULTILINE)


def _has_section(doc: str, *names: str) -> bool:
    return any(re.search(_SECTION.pattern.format(name), doc, re.MULTILINE) for name in names)


def _exported(module_name: str) -> list[tuple[str, object]]:
    module = importlib.import_module(module_name)
    names = getattr(module, "__all__", None)
    if names is None:
        names = [name for name, value in vars(module).items()
                 if not name.startswith("_") and getattr(value, "__module__", None) == module_name]
    out = []
    for name in names:
        value = getattr(module, name)
        defined_here = getattr(value, "__module__", "").startswith("compactemb")
        if defined_here and (inspect.isclass(value) or inspect.isfunction(value)):
            out.append((f"{module_name}.{name}", value))
    return out


def _api() -> list[tuple[str, object]]:
    seen: dict[int, tuple[str, object]] = {}
    for module_name in PUBLIC_MODULES:
        for qualname, value in _exported(module_name):
            seen.setdefault(id(value), (qualname, value))
    return sorted(seen.values(), key=lambda item: item[0])


def _own_doc(obj) -> str:
    """The object's own docstring, not the one a dataclass or NamedTuple makes up from its
    signature ("Name(a, b)") and not a base class's."""
    doc = obj.__doc__ or ""
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):
        return ""
    return inspect.cleandoc(doc)


def _takes_parameters(obj) -> bool:
    target = obj
    if inspect.isclass(obj):
        if issubclass(obj, (BaseException, enum.Enum)):
            return False  # an exception's or enum's arguments are its message / its value
        target = obj.__init__
        if target is object.__init__:
            return False
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return False
    return any(name not in ("self", "cls") for name in signature.parameters)


def _returns_something(func) -> bool:
    """Its return annotation names a value (not None; unannotated functions are not judged)."""
    annotation = inspect.signature(func).return_annotation
    return annotation not in (inspect.Signature.empty, None, "None")


def _public_methods(cls) -> list[tuple[str, object]]:
    out = []
    for name, value in vars(cls).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            value = value.fget
        if inspect.isfunction(value):
            out.append((name, value))
    return out


API = _api()


def test_the_walk_finds_the_api():
    assert {"compactemb.tables", "compactemb.train", "compactemb.keyed", "compactemb.vocab",
            "compactemb.storage", "compactemb.search", "compactemb.recommend"} \
        <= set(PUBLIC_MODULES)
    names = {name.rsplit(".", 1)[1] for name, _ in API}
    # a few names from different modules, so an import refactor cannot empty the walk silently
    assert {"KeyedVectors", "DenseTable", "Word2Vec", "ALS", "load", "compress", "kmeans"} <= names
    assert len(API) > 150


@pytest.mark.parametrize("qualname,obj", API, ids=[name for name, _ in API])
def test_public_object_is_documented(qualname, obj):
    doc = _own_doc(obj)
    assert doc, f"{qualname} has no docstring"
    summary = doc.splitlines()[0]
    assert summary.strip(), f"{qualname}: the docstring must open with a one-line summary"
    if _takes_parameters(obj):
        docs = [doc]
        if inspect.isclass(obj):
            docs.append(inspect.cleandoc(obj.__init__.__doc__ or ""))
            # an __init__ inherited from a public base is documented there ("See LowBitTable")
            owner = next(c for c in obj.__mro__ if "__init__" in vars(c))
            if owner is not obj and not owner.__name__.startswith("_"):
                docs.append(_own_doc(owner))
        assert any(_has_section(d, "Parameters", "Attributes") for d in docs), \
            f"{qualname} takes parameters but its docstring has no 'Parameters' section"
    if inspect.isfunction(obj) and _returns_something(obj):
        assert _has_section(doc, "Returns", "Yields"), \
            f"{qualname} returns a value but its docstring has no 'Returns' section"


def _methods() -> list[tuple[str, object]]:
    out = []
    for qualname, obj in API:
        if inspect.isclass(obj) and not issubclass(obj, BaseException):
            for name, method in _public_methods(obj):
                out.append((f"{qualname}.{name}", method))
    return out


METHODS = _methods()


@pytest.mark.parametrize("qualname,method", METHODS, ids=[name for name, _ in METHODS])
def test_public_method_is_documented(qualname, method):
    # an override without its own docstring inherits the documented base method's
    cls_name, name = qualname.rsplit(".", 1)
    doc = method.__doc__
    if not doc:
        owner = next(obj for q, obj in API if q == cls_name)
        doc = inspect.getdoc(getattr(owner, name)) or ""
    assert doc and doc.strip(), f"{qualname} has no docstring"
    if _takes_parameters(method):
        assert _has_section(inspect.cleandoc(doc), "Parameters"), \
            f"{qualname} takes parameters but its docstring has no 'Parameters' section"
        # a method without parameters (a property, ``to_dict()``) says what it gives in its summary
        if _returns_something(method):
            assert _has_section(inspect.cleandoc(doc), "Returns", "Yields"), \
                f"{qualname} returns a value but its docstring has no 'Returns' section"


# -- the Examples sections run ------------------------------------------------------------------

def _modules_with_examples() -> list[str]:
    """Every module of the package whose docstrings hold examples, private ones included (they
    define most public classes); not the command line, the demo, kernels or the Ray cluster."""
    out = []
    for info in pkgutil.walk_packages(compactemb.__path__, "compactemb."):
        parts = info.name.split(".")
        if parts[1] in ("cli", "demo", "distributed", "__main__", "_entry") \
                or parts[-1].endswith("_kernels"):
            continue
        out.append(info.name)
    return out


@pytest.mark.parametrize("module_name", _modules_with_examples())
def test_docstring_examples_run(module_name):
    import doctest

    from compactemb import storage

    module = importlib.import_module(module_name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    # an example may register a kind (storage's own does): the registries are put back after,
    # so no loader defined inside an example outlives it
    registries = (storage._COMPONENT_TYPES, storage._FILE_KINDS)
    saved = [dict(r) for r in registries]
    try:
        for test in finder.find(module, module_name):
            runner.run(test, out=report.append)
    finally:
        for registry, before in zip(registries, saved):
            registry.clear()
            registry.update(before)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
