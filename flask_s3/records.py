"""``@frozen``: a frozen dataclass that costs one compiled method to define instead of six.

``@dataclass(frozen=True)`` writes six methods per class as source text and compiles them
when the module is imported (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__``, ``__delattr__``): about a millisecond a class, paid by every ``flask-s3`` run
before its first request, and the spec and the plan hold twenty such classes. ``@frozen`` lets
dataclasses compile ``__init__`` only and gives every record the same five other methods,
which read the field names the decorator stored on the class.

A record is still a dataclass (``dataclasses.replace``, ``fields``, ``asdict`` and
``is_dataclass`` work, and type checkers see a frozen dataclass) and behaves as a frozen one:
assigning or deleting an attribute raises ``FrozenInstanceError``; equality, hashing and repr
follow the fields in order, as the generated methods would. The price is one Python-level
``__setattr__`` call per field when an instance is made: nothing for a spec or a plan's
header, too much for a record made once per file (those stay ``@dataclass(frozen=True,
slots=True)``).
"""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_kwargs: Any) -> Any:
        return lambda decorated: decorated


T = TypeVar("T")


def _setattr(self: Any, name: str, value: Any) -> None:
    # __init__ sets each field once, through here; nothing may be set again, or added
    if name in self.__dict__ or name not in self._record_fields:
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, value)


def _delattr(self: Any, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _eq(self: Any, other: Any) -> Any:  # bool, or NotImplemented for another class
    if other.__class__ is not self.__class__:
        return NotImplemented
    return all(getattr(self, n) == getattr(other, n) for n in self._record_compare)


def _hash(self: Any) -> int:
    return hash(tuple(getattr(self, n) for n in self._record_hash))


def _repr(self: Any) -> str:
    shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in self._record_repr)
    return f"{self.__class__.__qualname__}({shown})"


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls: type[T]) -> type[T]:
    """The class as a frozen dataclass (see the module docstring)."""
    if "__setattr__" in vars(cls) or "__delattr__" in vars(cls):
        raise TypeError(f"{cls.__qualname__}: a frozen record defines no __setattr__/__delattr__")
    made: Any = dataclass(eq=False, repr=False)(cls)  # compiles __init__ only
    own = fields(made)
    made._record_fields = frozenset(f.name for f in own)
    made._record_compare = tuple(f.name for f in own if f.compare)
    made._record_hash = tuple(f.name for f in own if (f.compare if f.hash is None else f.hash))
    made._record_repr = tuple(f.name for f in own if f.repr)
    made.__setattr__ = _setattr
    made.__delattr__ = _delattr
    made.__eq__ = _eq
    made.__hash__ = _hash
    made.__repr__ = _repr
    return made  # type: ignore[no-any-return]
