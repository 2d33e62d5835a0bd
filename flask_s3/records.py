"""``@frozen`` and ``@record``: a frozen and a plain dataclass that compile no method when defined.

``@dataclass(frozen=True)`` writes six methods per class as source text and compiles them
when the module is imported (``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__``, ``__delattr__``): about a millisecond a class, paid by every ``flask-s3`` run
before its first request, and the spec and the plan hold twenty such classes. ``@frozen``
gives every record the same six methods, which read the field names (and the defaults) the
decorator stored on the class.

A record is still a dataclass (``dataclasses.replace``, ``fields``, ``asdict`` and
``is_dataclass`` work, and type checkers see a frozen dataclass) and behaves as a frozen one:
assigning or deleting an attribute raises ``FrozenInstanceError``; equality, hashing and repr
follow the fields in order, as the generated methods would; ``__init__`` takes the same
arguments, fills in the same defaults and raises ``TypeError`` where the generated one would.
The price is a slower ``__init__`` (a loop over the fields): nothing for a spec or a plan's
header, too much for a record made once per file or per request (those stay
``@dataclass(frozen=True, slots=True)``, or ``@dataclass``). ``@record`` is the same for a
mutable dataclass: the same ``__init__``, equality and repr; no hash, as ``@dataclass`` gives
none.
"""

from __future__ import annotations

from dataclasses import MISSING, FrozenInstanceError, dataclass, field, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from typing_extensions import dataclass_transform
else:

    def dataclass_transform(**_kwargs: Any) -> Any:
        return lambda decorated: decorated


T = TypeVar("T")


def _init(self: Any, *args: Any, **kwargs: Any) -> None:
    """The generated ``__init__``'s behaviour, read from ``_record_init``."""
    params = self._record_init  # (name, default, default factory) of each __init__ argument
    if len(args) > len(params):
        raise TypeError(
            f"{self.__class__.__qualname__}() takes {len(params)} positional arguments but "
            f"{len(args)} were given"
        )
    put = object.__setattr__
    for i, (name, default, factory) in enumerate(params):
        if i < len(args):
            if name in kwargs:
                raise TypeError(f"{self.__class__.__qualname__}() got multiple values for {name!r}")
            put(self, name, args[i])
        elif name in kwargs:
            put(self, name, kwargs.pop(name))
        elif default is not MISSING:
            put(self, name, default)
        elif factory is not MISSING:
            put(self, name, factory())
        else:
            raise TypeError(f"{self.__class__.__qualname__}() missing the argument {name!r}")
    if kwargs:
        raise TypeError(
            f"{self.__class__.__qualname__}() got an unexpected keyword argument "
            f"{next(iter(kwargs))!r}"
        )


def _setattr(self: Any, name: str, value: Any) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


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
    made = _make(cls, frozen=True)
    made.__setattr__ = _setattr
    made.__delattr__ = _delattr
    return made  # type: ignore[no-any-return]


@dataclass_transform(field_specifiers=(field,))
def record(cls: type[T]) -> type[T]:
    """The class as a plain (mutable) dataclass, made the same way: no compiled method.

    Equality and repr follow the fields as ``@dataclass``'s would, and an instance is
    unhashable, as a mutable dataclass's is.
    """
    return _make(cls, frozen=False)  # type: ignore[no-any-return]


def _make(cls: type[Any], *, frozen: bool) -> Any:
    own_methods = vars(cls)
    for special in ("__init__", "__post_init__"):
        if special in own_methods:
            raise TypeError(f"{cls.__qualname__}: a record defines no {special}")
    # methods the class writes itself are kept, as dataclasses keep them
    keep = {name for name in ("__eq__", "__repr__") if name in own_methods}
    explicit_hash = "__hash__" in own_methods and not (
        own_methods["__hash__"] is None and "__eq__" in own_methods
    )
    documented = bool(cls.__doc__)
    if not documented:  # or dataclasses would write one from inspect.signature: slow
        cls.__doc__ = cls.__qualname__
    made: Any = dataclass(init=False, eq=False, repr=False)(cls)  # compiles nothing
    own = fields(made)
    if not documented:
        made.__doc__ = f"{cls.__qualname__}({', '.join(f.name for f in own)})"
    if not all(f.init and f.kw_only is not True for f in own):
        raise TypeError(f"{cls.__qualname__}: every field of a record is a plain argument")
    made._record_init = tuple((f.name, f.default, f.default_factory) for f in own)
    required = [f.default is MISSING and f.default_factory is MISSING for f in own]
    first_default = next((i for i, needed in enumerate(required) if not needed), len(required))
    if any(required[first_default:]):
        raise TypeError(f"{cls.__qualname__}: a field without a default follows one with")
    made._record_compare = tuple(f.name for f in own if f.compare)
    made._record_hash = tuple(f.name for f in own if (f.compare if f.hash is None else f.hash))
    made._record_repr = tuple(f.name for f in own if f.repr)
    made.__init__ = _init
    if "__eq__" not in keep:
        made.__eq__ = _eq
    if "__repr__" not in keep:
        made.__repr__ = _repr
    if not explicit_hash:
        made.__hash__ = _hash if frozen else None
    return made
