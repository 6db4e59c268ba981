"""Every public name (``__all__``) of the user-facing modules has a numpy-style docstring.

Public classes' public methods and properties are checked too. Three levels:

1. every name has a docstring whose first line is a one-sentence summary;
2. its sections, where it has any, are numpy-style (``Parameters`` underlined with dashes), never Google-style
   (``Args:``);
3. every parameter of a public function or method is described in a ``Parameters`` section (classes: in the
   class docstring's ``Parameters`` or ``Attributes``). There are no exceptions: any public name with an
   undescribed parameter fails the test.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from typing import Any

import pytest

MODULES = [
    "sinkvis",
    "sinkvis.simulation",
    "sinkvis.evaluation",
    "sinkvis.plotting",
    "sinkvis.report_html",
    "sinkvis.cli",
    "sinkvis_widgets",
]

GOOGLE_HEADERS = re.compile(r"^\s*(Args|Arguments|Returns|Yields|Raises|Attributes|Examples?|Note|Notes):\s*$", re.M)
NUMPY_SECTIONS = (
    "Parameters",
    "Other Parameters",
    "Returns",
    "Yields",
    "Raises",
    "Warns",
    "Attributes",
    "Methods",
    "See Also",
    "Notes",
    "References",
    "Examples",
)
SKIP_PARAMS = {"self", "cls", "args", "kwargs", "options", "params", "kw"}


def _public_objects() -> Iterator[tuple[str, Any, Any]]:
    """(qualified name, object, owning class or None) for each public name and public class member."""
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        names = getattr(module, "__all__", None)
        assert names, f"{module_name} has no __all__"
        for name in names:
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or callable(obj)):
                continue  # constants (__version__, ROLE_LETTERS, ...) carry no docstring of their own
            qual = f"{module_name}.{name}"
            yield qual, obj, None
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(value, property):
                        yield f"{qual}.{attr}", value.fget, obj
                    elif isinstance(value, (staticmethod, classmethod)):
                        yield f"{qual}.{attr}", value.__func__, obj
                    elif inspect.isfunction(value):
                        yield f"{qual}.{attr}", value, obj


PUBLIC = sorted(_public_objects(), key=lambda item: item[0])
IDS = [q for q, _, _ in PUBLIC]


def _own_doc(obj: Any) -> str:
    doc = obj.__doc__ if inspect.isclass(obj) else inspect.getdoc(obj)
    if inspect.isclass(obj) and doc:
        doc = inspect.cleandoc(doc)
    return doc or ""


def test_every_module_is_covered():
    modules = {q.rsplit(".", 1)[0] for q, _, owner in PUBLIC if owner is None}
    assert modules == set(MODULES)
    assert len(PUBLIC) > 80


@pytest.mark.parametrize(("qualname", "obj", "owner"), PUBLIC, ids=IDS)
def test_has_a_summary_docstring(qualname, obj, owner):
    doc = _own_doc(obj)
    if inspect.isclass(obj) and issubclass(obj, BaseException) and not doc:
        pytest.fail(f"{qualname}: exception without a docstring")
    assert doc.strip(), f"{qualname} has no docstring"
    summary = doc.strip().splitlines()[0].strip()
    assert len(summary) >= 10, f"{qualname}: summary line too short: {summary!r}"
    assert summary[0].isupper() or summary[0] in "`'\"(*:", f"{qualname}: summary should start a sentence"


@pytest.mark.parametrize(("qualname", "obj", "owner"), PUBLIC, ids=IDS)
def test_sections_are_numpy_style(qualname, obj, owner):
    doc = _own_doc(obj)
    assert not GOOGLE_HEADERS.search(doc), f"{qualname}: Google-style section header; use numpy style"
    lines = doc.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.strip() in NUMPY_SECTIONS and re.fullmatch(r"\s*-{3,}\s*", lines[i + 1]):
            assert len(lines[i + 1].strip()) == len(line.strip()), f"{qualname}: underline of {line.strip()!r}"


def _documented_parameters(doc: str) -> set[str]:
    names: set[str] = set()
    lines = doc.splitlines()
    for i, line in enumerate(lines[:-1]):
        if line.strip() in ("Parameters", "Other Parameters", "Attributes") and set(lines[i + 1].strip()) == {"-"}:
            for entry in lines[i + 2 :]:
                if entry.strip() in NUMPY_SECTIONS:
                    break
                m = re.match(r"^(\w[\w, *]*?)\s*(:.*)?$", entry)
                if m and not entry.startswith((" ", "\t")):
                    names.update(n.strip().lstrip("*") for n in m.group(1).split(","))
    return names


def _parameters(obj: Any) -> list[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        sig = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in sig.parameters.values()
        if p.name not in SKIP_PARAMS and not p.name.startswith("_") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


def _undocumented(obj: Any) -> list[str]:
    if inspect.isclass(obj) and obj.__init__ is object.__init__:
        return []
    if inspect.isclass(obj) and issubclass(obj, BaseException):
        return []
    params = _parameters(obj)
    if not params:
        return []
    doc = _own_doc(obj)
    if inspect.isclass(obj):
        doc += "\n" + (inspect.getdoc(obj.__init__) or "")
    documented = _documented_parameters(doc)
    return [p for p in params if p not in documented]


@pytest.mark.parametrize(("qualname", "obj", "owner"), PUBLIC, ids=IDS)
def test_parameters_are_documented(qualname, obj, owner):
    missing = _undocumented(obj)
    assert not missing, f"{qualname}: parameters not described in a numpy 'Parameters' section: {missing}"
