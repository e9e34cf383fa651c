"""The few names from `typing` that detect's path needs at run time, without importing typing.

Why: `detect --json` and the drop-in modes must answer within virt-what's time (about 40 ms
here), and `import typing` alone costs 3-4 ms of it (benchmarks/detect_speed.py). Modules on
the paths of `detect` take `TYPE_CHECKING`, `NamedTuple` and `assert_never` from here, and
keep every other typing import under `if TYPE_CHECKING:`, with `from __future__ import
annotations` so that no annotation is evaluated.

Type checkers read the TYPE_CHECKING branch: mypy sees typing's own NamedTuple and
assert_never, and checks every record and every exhaustive match exactly as before. At run
time, a record is built by collections.namedtuple as typing.NamedTuple builds it (the fields
in annotation order, their defaults, the class's own methods and docstring, and
`__annotations__` as written), without turning each annotation into a ForwardRef (which
compile()s it). tests/test_lean_typing.py holds it to typing.NamedTuple's behaviour, and
tests/test_cli_detect.py checks that `detect --json` never imports typing.

Only the class form is supported: `class Row(NamedTuple): name: str; runs: int = 0`.
"""

TYPE_CHECKING = False  # True to mypy, which treats any name TYPE_CHECKING as typing.TYPE_CHECKING

if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
    from typing import assert_never as assert_never
else:
    from collections import namedtuple

    # typing.NamedTuple's rules (Lib/typing.py, 3.11): these names belong to namedtuple.
    _PROHIBITED = frozenset(
        ("__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults", "_make",
         "_replace", "_asdict", "_source")
    )  # fmt: skip
    _SPECIAL = frozenset(("__module__", "__name__", "__annotations__", "__qualname__"))

    class _RecordMeta(type):
        def __new__(mcls, typename, bases, ns):
            if not bases:  # NamedTuple itself, below
                return super().__new__(mcls, typename, bases, ns)
            if bases != (NamedTuple,):
                raise TypeError("a record derives from NamedTuple alone")
            fields = ns.get("__annotations__", {})
            defaults = []
            for name in fields:
                if name in ns:
                    defaults.append(name)
                elif defaults:
                    raise TypeError(f"Non-default namedtuple field {name} cannot follow default field {defaults[-1]}")
            cls = namedtuple(typename, list(fields), defaults=[ns[n] for n in defaults], module=ns["__module__"])
            cls.__annotations__ = cls.__new__.__annotations__ = dict(fields)
            cls.__qualname__ = ns.get("__qualname__", typename)
            for key, value in ns.items():
                if key in _PROHIBITED:
                    raise AttributeError("Cannot overwrite NamedTuple attribute " + key)
                if key not in _SPECIAL and key not in cls._fields:
                    setattr(cls, key, value)
            return cls

    class NamedTuple(metaclass=_RecordMeta):
        """Derive from this as from typing.NamedTuple (module docstring)."""

    def assert_never(arg, /):
        """typing.assert_never: a branch the type checker proved unreachable was reached."""
        raise AssertionError(f"Expected code to be unreachable, but got: {arg!r}"[:200])
