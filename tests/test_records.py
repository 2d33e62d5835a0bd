"""``records.frozen`` behaves as ``@dataclass(frozen=True)``: the two side by side on the same
fields, and on the spec and plan classes that use it."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from dataclasses import FrozenInstanceError, dataclass, field

import pytest

from flask_s3.plan import LocalInfo
from flask_s3.records import frozen, record
from flask_s3.s3.resolve import StaticCredentials
from flask_s3.spec.model import AssetsSpec, BucketSpec, CorsSpec, Spec, UrlSpec


@dataclass(frozen=True)
class Stock:
    name: str
    size: int = 0
    tags: tuple[str, ...] = ()
    note: str = field(default="", compare=False, repr=False)
    extra: dict[str, str] = field(default_factory=dict, hash=False)


@frozen
class Record:
    name: str
    size: int = 0
    tags: tuple[str, ...] = ()
    note: str = field(default="", compare=False, repr=False)
    extra: dict[str, str] = field(default_factory=dict, hash=False)


ARGS = [
    ("a",),
    ("a", 3),
    ("a", 3, ("x", "y")),
    ("a", 3, ("x",), "seen"),
    ("b", 0, (), "", {"k": "v"}),
]


@pytest.mark.parametrize("args", ARGS)
def test_repr_eq_and_hash_follow_the_fields_as_a_frozen_dataclass(args: tuple) -> None:
    stock, record = Stock(*args), Record(*args)
    assert repr(record) == repr(stock).replace("Stock(", "Record(", 1)
    for other in ARGS:
        assert (record == Record(*other)) == (stock == Stock(*other))
        assert (record != Record(*other)) == (stock != Stock(*other))
    assert hash(record) == hash(stock)
    assert record != stock  # another class: never equal, as dataclasses do
    assert dataclasses.asdict(record) == dataclasses.asdict(stock)
    assert dataclasses.astuple(record) == dataclasses.astuple(stock)


def test_nothing_can_be_assigned_deleted_or_added() -> None:
    record = Record("a", 1)
    with pytest.raises(FrozenInstanceError):
        record.name = "b"  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del record.size  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        record.other = 1  # type: ignore[attr-defined]
    assert (record.name, record.size) == ("a", 1)


def test_it_is_still_a_dataclass() -> None:
    record = Record("a", 1, extra={"k": "v"})
    changed = dataclasses.replace(record, size=2)
    assert (changed.name, changed.size, changed.extra) == ("a", 2, {"k": "v"})
    assert record.size == 1
    assert dataclasses.is_dataclass(record)
    assert [f.name for f in dataclasses.fields(record)] == [
        f.name for f in dataclasses.fields(Stock)
    ]
    assert Record("a").extra is not Record("a").extra  # default_factory per instance
    assert copy.deepcopy(record) == record
    assert pickle.loads(pickle.dumps(record)) == record
    match record:
        case Record(name, size):
            assert (name, size) == ("a", 1)


BAD_CALLS = [
    ((), {}),  # a required argument missing
    (("a", 1, (), "", {}, "extra"), {}),  # too many
    (("a",), {"name": "b"}),  # one argument twice
    (("a",), {"colour": "red"}),  # an unknown keyword
]


@pytest.mark.parametrize(("args", "kwargs"), BAD_CALLS)
def test_the_constructor_refuses_what_a_dataclass_refuses(args: tuple, kwargs: dict) -> None:
    with pytest.raises(TypeError):
        Stock(*args, **kwargs)
    with pytest.raises(TypeError):
        Record(*args, **kwargs)


def test_the_constructor_takes_keywords_and_fills_defaults_as_a_dataclass() -> None:
    for kwargs in ({"name": "a"}, {"size": 2, "name": "a"}, {"name": "a", "extra": {"k": "v"}}):
        assert repr(Record(**kwargs)) == repr(Stock(**kwargs)).replace("Stock(", "Record(")
        assert dataclasses.asdict(Record(**kwargs)) == dataclasses.asdict(Stock(**kwargs))
    assert repr(Record("a", tags=("t",))) == "Record(name='a', size=0, tags=('t',), extra={})"


def test_a_field_without_a_default_after_one_with_is_refused_as_by_a_dataclass() -> None:
    with pytest.raises(TypeError):

        @frozen
        class Odd:
            name: str = ""
            size: int


def test_a_record_defining_its_own_setattr_is_refused() -> None:
    with pytest.raises(TypeError, match="defines no __setattr__"):

        @frozen
        class Odd:
            name: str

            def __setattr__(self, name: str, value: object) -> None:
                object.__setattr__(self, name, value)


def test_the_spec_and_plan_classes_are_frozen_and_compare_by_value() -> None:
    spec = Spec(bucket=BucketSpec(name="b", cors=CorsSpec(allowed_origins=("*",))))
    assert spec == Spec(bucket=BucketSpec(name="b", cors=CorsSpec(allowed_origins=("*",))))
    assert spec != dataclasses.replace(spec, urls=UrlSpec(prefix="p"))
    assert hash(spec.bucket) == hash(BucketSpec(name="b", cors=CorsSpec(allowed_origins=("*",))))
    with pytest.raises(FrozenInstanceError):
        spec.bucket = BucketSpec(name="c")  # type: ignore[misc]
    with pytest.raises(TypeError, match="unhashable"):
        hash(AssetsSpec())  # its headers are a dict: unhashable, as with dataclass(frozen=True)
    assert repr(LocalInfo("f", 1, 2)) == "LocalInfo(fingerprint='f', files=1, bytes=2)"


@dataclass
class PlainStock:
    name: str
    size: int = 0
    extra: dict[str, str] = field(default_factory=dict, compare=False)


@record
class PlainRecord:
    name: str
    size: int = 0
    extra: dict[str, str] = field(default_factory=dict, compare=False)


def test_a_plain_record_behaves_as_a_plain_dataclass() -> None:
    stock, plain = PlainStock("a", 1), PlainRecord("a", 1)
    assert repr(plain) == repr(stock).replace("PlainStock(", "PlainRecord(")
    assert plain == PlainRecord("a", 1, {"k": "v"})  # extra is not compared
    assert plain != PlainRecord("a", 2)
    plain.size = 3  # mutable
    assert plain.size == 3 and plain != PlainRecord("a", 1)
    with pytest.raises(TypeError, match="unhashable"):
        hash(plain)
    with pytest.raises(TypeError, match="unhashable"):
        hash(stock)
    assert PlainRecord("a").extra is not PlainRecord("a").extra
    assert dataclasses.replace(plain, name="b") == PlainRecord("b", 3)


def test_methods_a_record_writes_itself_are_kept() -> None:
    @frozen
    class Masked:
        user: str
        password: str

        def __repr__(self) -> str:
            return f"Masked({self.user}, ***)"

    @record
    class Same:
        name: str

        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = object.__hash__

    assert repr(Masked("u", "p")) == "Masked(u, ***)"
    assert Same("a") == Same("b")
    assert hash(Same("a")) != hash(Same("a"))  # by identity: the class chose it


def test_the_credentials_repr_shows_no_secret() -> None:
    keys = StaticCredentials("AKIDEXAMPLE", "wJalrXUtnFEMIK7MDENGbPxRfiCY", "FwoGZXIvYXdzTOKEN")
    shown = repr(keys)
    assert "AKIDEXAMPLE" in shown
    assert "wJalrXUtnFEMIK7MDENGbPxRfiCY" not in shown and "FwoGZXIvYXdzTOKEN" not in shown
