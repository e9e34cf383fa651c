"""virtprobe.lean_typing.NamedTuple behaves as typing.NamedTuple, for every class body virtprobe writes.

The records on detect's path are built without importing typing (virtprobe/lean_typing.py says
why); these tests build the same class body on both bases and compare what a caller can see.
"""

from __future__ import annotations

import keyword
import pickle
import typing
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from virtprobe import lean_typing

ROW = """
    \"\"\"A row.\"\"\"

    name: str
    runs: int = 3
    note: str | None = None

    def twice(self) -> int:
        return self.runs * 2

    @property
    def label(self) -> str:
        return f"{self.name}:{self.runs}"

    @classmethod
    def of(cls, name: str):
        return cls(name)
"""


def _build(base: object, body: str, name: str = "R") -> Any:
    """The class `name` of `body` on `base`, as a module of ours with annotations as strings defines it."""
    ns: dict[str, Any] = {"base": base, "__name__": __name__}
    exec(f"from __future__ import annotations\nclass {name}(base):\n{body}", ns)
    return ns[name]


# One body on both bases, at module level so that pickle finds each class by name.
LeanRow = _build(lean_typing.NamedTuple, ROW, "LeanRow")
TypingRow = _build(typing.NamedTuple, ROW, "TypingRow")


def _as_written(cls: type) -> dict[str, str]:
    """typing.NamedTuple's annotations as written: it turns each string into a ForwardRef (compiling it)."""
    return {k: v.__forward_arg__ for k, v in cls.__annotations__.items()}


def test_a_record_has_typing_namedtuples_surface() -> None:
    lean, typed = LeanRow("a"), TypingRow("a")
    assert tuple(lean) == tuple(typed) == ("a", 3, None)
    assert LeanRow._fields == TypingRow._fields
    assert LeanRow._field_defaults == TypingRow._field_defaults
    assert LeanRow.__annotations__ == _as_written(TypingRow) == {"name": "str", "runs": "int", "note": "str | None"}
    assert LeanRow.__doc__ == TypingRow.__doc__
    assert (LeanRow.__module__, LeanRow.__qualname__) == (__name__, "LeanRow")
    assert repr(lean) == repr(typed).replace("TypingRow", "LeanRow")
    assert lean.twice() == typed.twice() == 6 and lean.label == typed.label == "a:3"
    assert LeanRow.of("b") == TypingRow.of("b") and type(LeanRow.of("b")) is LeanRow
    assert lean._replace(runs=5) == typed._replace(runs=5) and lean._asdict() == typed._asdict()
    assert LeanRow._make(["x", 1, "n"]) == ("x", 1, "n")
    assert LeanRow(name="x", note="n") == TypingRow(name="x", note="n")
    assert LeanRow.__match_args__ == TypingRow.__match_args__
    assert pickle.loads(pickle.dumps(lean)) == lean and type(pickle.loads(pickle.dumps(lean))) is LeanRow
    with pytest.raises(AttributeError):
        lean.name = "b"
    with pytest.raises(TypeError):
        LeanRow()
    assert isinstance(lean, tuple) and LeanRow.__mro__ == (LeanRow, tuple, object)


def _errors(base: object, body: str) -> str | None:
    """The exception (type and message) building a class of `body` on `base` raises, or None."""
    try:
        _build(base, body)
    except Exception as err:
        return f"{type(err).__name__}: {err}"
    return None


@pytest.mark.parametrize(
    "body",
    [
        "    a: int = 1\n    b: int\n",  # a field without a default after one with a default
        "    a: int\n    _replace = 1\n",  # a namedtuple name overwritten
        "    a: int\n    def _asdict(self): return {}\n",
        "    a: int\n    def __new__(cls): pass\n",
    ],
)
def test_bad_bodies_fail_as_typing_fails(body: str) -> None:
    lean, typed = _errors(lean_typing.NamedTuple, body), _errors(typing.NamedTuple, body)
    assert lean is not None and typed is not None and lean.split(":")[0] == typed.split(":")[0], (lean, typed)


def test_a_record_derives_from_namedtuple_alone() -> None:
    assert _errors(lean_typing.NamedTuple, "    a: int\n") is None
    with pytest.raises(TypeError):

        class Mixed(lean_typing.NamedTuple, dict):  # type: ignore[misc]
            a: int


IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda s: not keyword.iskeyword(s))


@settings(max_examples=200, deadline=None)
@given(
    names=st.lists(IDENT, min_size=0, max_size=8, unique=True),
    n_defaults=st.integers(0, 8),
    values=st.lists(st.one_of(st.none(), st.integers(), st.text(max_size=5)), min_size=8, max_size=8),
)
def test_any_field_list_builds_the_same_record(names: list[str], n_defaults: int, values: list[object]) -> None:
    """Fields, defaults, construction from defaults and positionals: the same on both bases."""
    n_defaults = min(n_defaults, len(names))
    lines = [f"    {n}: int" for n in names[: len(names) - n_defaults]]
    lines += [f"    {n}: int = {values[i]!r}" for i, n in enumerate(names[len(names) - n_defaults :])]
    body = "\n".join(lines) + "\n" if lines else "    pass\n"
    lean, typed = _build(lean_typing.NamedTuple, body), _build(typing.NamedTuple, body)
    assert lean._fields == typed._fields and lean._field_defaults == typed._field_defaults
    assert lean.__annotations__ == _as_written(typed)
    required = list(range(len(names) - n_defaults))
    assert lean(*required) == typed(*required)


def test_assert_never_raises() -> None:
    with pytest.raises(AssertionError, match="unreachable"):
        lean_typing.assert_never("x")  # type: ignore[arg-type]
