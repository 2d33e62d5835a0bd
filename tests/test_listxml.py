"""The listing page reader without a tree (``s3/listxml.py``) against ElementTree's reading.

Whatever page it accepts, it must read exactly as ElementTree does (``xmlcodec.tree_page``),
and it must refuse (leave to ElementTree) every page ElementTree cannot parse. The pages are
random ones built from S3's shape with entities, character references, CDATA, comments,
odd white space, repeated and unknown fields, nested elements, then damaged at random; and
real pages from SeaweedFS for keys with characters XML and URLs treat specially.
"""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote_plus, unquote_plus

import pytest

from flask_s3.s3 import open_store
from flask_s3.s3.listxml import plain_run, read_error, read_page
from flask_s3.s3.store import put_bytes
from flask_s3.s3.xmlcodec import Page, error_of, tree_error_of, tree_page
from flask_s3.spec import BucketSpec, Spec

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
ODD_ROOTS = [
    "<ListBucketResult>",
    f"<ListBucketResult {NS} extra='1'>",
    f'<s3:ListBucketResult xmlns:s3="{NS[7:-1]}">',
]
ODD_SIZES = [" 7", "x", "", "\u0663"]
ALPHABET = (
    "abcXYZ019/._-~ +%&<>\"'\t\n\r;#x\u00e9\u65e5\U0001f600\x01\x7f\x85\u2028\ufffe\ud7ff\ue000"
)


class Odd(random.Random):
    """A random source that also says how often to spell things oddly (0: S3's plain way)."""

    odd = 0.2


def text(rng: Odd, value: str) -> str:
    """``value`` as XML text, each character spelled one of the ways XML allows (or not)."""
    out = []
    for ch in value:
        choice = rng.random() * rng.odd / 0.2 if rng.odd else 1.0
        if not rng.odd and ch in "&<>":
            out.append({"&": "&amp;", "<": "&lt;", ">": "&gt;"}[ch])
            continue
        if ch in "&<>" or choice < 0.15:
            out.append(
                rng.choice(
                    [
                        f"&#{ord(ch)};",
                        f"&#x{ord(ch):x};",
                        f"&#X{ord(ch):X};",
                        {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;"}.get(
                            ch, ch
                        ),
                        ch,  # raw: a bare & or < is not XML, a > mostly is
                    ]
                )
            )
        elif choice < 0.2:
            out.append(f"<![CDATA[{ch}]]>")
        elif choice < 0.22:
            out.append(f"<!--c-->{ch}")
        else:
            out.append(ch)
    return "".join(out)


def word(rng: Odd, size: int = 8) -> str:
    plain = "abcdefgh/._-0123456789"
    if rng.random() < 0.7 or not rng.odd:
        return "".join(rng.choice(plain) for _ in range(rng.randint(0, size)))
    return "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, size)))


def space(rng: Odd) -> str:
    if not rng.odd:
        return rng.choice(["", "", "", " ", "\n", "\n  ", "\t"])
    return rng.choice(["", "", "", " ", "\n", "\n  ", "\t", "\r\n", "x"])


def element(rng: Odd, name: str, value: str) -> str:
    if rng.random() < 0.03 and rng.odd:
        return f"<{name}/>"
    if rng.random() < 0.03 and rng.odd:
        return f'<{name} a="1">{text(rng, value)}</{name}>'
    return f"<{name}>{text(rng, value)}</{name}>"


def contents(rng: Odd, prefix: str) -> str:
    fields = [
        element(rng, "Key", prefix + word(rng)),
        element(rng, "ETag", rng.choice(['"', ""]) + word(rng, 32) + rng.choice(['"', ""])),
        element(
            rng, "Size", rng.choice([str(rng.randint(0, 10**6)), *ODD_SIZES[: 4 if rng.odd else 0]])
        ),
        element(rng, "LastModified", "2026-01-01T00:00:00.000Z"),
        element(rng, "StorageClass", "STANDARD"),
    ]
    if rng.random() < 0.1:
        fields.append(f"<Owner>{element(rng, 'ID', word(rng))}{space(rng)}</Owner>")
    if rng.random() < 0.1:  # a field twice: the reading takes the last
        name = rng.choice(["Key", "ETag", "Size"])
        value = str(rng.randint(0, 9)) if name == "Size" and not rng.odd else word(rng)
        fields.append(element(rng, name, value))
    if rng.random() < 0.03 and rng.odd:
        fields.append("<CommonPrefixes><Prefix>inner/</Prefix></CommonPrefixes>")
    if rng.random() < 0.05:
        fields.append(element(rng, "Contents", word(rng)))
    rng.shuffle(fields)
    return "<Contents>" + "".join(f + space(rng) for f in fields) + "</Contents>"


def folder(rng: Odd, prefix: str) -> str:
    fields = [element(rng, "Prefix", prefix + word(rng) + "/")] if rng.random() < 0.9 else []
    if rng.random() < 0.2:
        fields.append(element(rng, rng.choice(["Prefix", "Other"]), word(rng)))
    rng.shuffle(fields)
    return "<CommonPrefixes>" + "".join(f + space(rng) for f in fields) + "</CommonPrefixes>"


def page(rng: Odd) -> bytes:
    prefix = rng.choice(["", "static/", "a b/"])
    items = [
        element(rng, "Name", "bucket"),
        element(rng, "Prefix", prefix),
        element(rng, "KeyCount", "3"),
        element(rng, "MaxKeys", "1000"),
        element(rng, "IsTruncated", rng.choice(["true", "false", "True", " true"])),
    ]
    if rng.random() < 0.8:
        items.append(element(rng, "EncodingType", rng.choice(["url", "url", "none"])))
    if rng.random() < 0.5:
        items.append(element(rng, "NextContinuationToken", word(rng, 20)))
    if rng.random() < 0.1:
        items.append(element(rng, rng.choice(["IsTruncated", "EncodingType"]), word(rng, 4)))
    items += [contents(rng, prefix) for _ in range(rng.randint(0, 6))]
    items += [folder(rng, prefix) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.05 and rng.odd:
        items.append("<Owner><ID>x</ID></Owner>")
    rng.shuffle(items)
    declaration = rng.choice(
        [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            '<?xml version="1.0" encoding="utf-8"?>',
            *(["<?xml version='1.0'?>", "", " "] if rng.odd else []),
        ]
    )
    root = rng.choice([f"<ListBucketResult {NS}>"] * 8 + (ODD_ROOTS if rng.odd else []))
    close = "</s3:ListBucketResult>" if root.startswith("<s3:") else "</ListBucketResult>"
    body = declaration + root + "".join(i + space(rng) for i in items) + close + space(rng)
    data = body.encode("utf-8", "surrogatepass")
    if rng.random() < 0.2 and rng.odd:
        data = damage(rng, data)
    return data


def damage(rng: Odd, data: bytes) -> bytes:
    at = rng.randrange(len(data) + 1)
    return rng.choice(
        [
            data[:at],
            data[:at] + data[at + 1 :],
            data[:at]
            + rng.choice([b"<", b"&", b">", b"\x00", b"\xff", b"]]>", b"</a>"])
            + data[at:],
            data + b"<x/>",
        ]
    )


def reference(data: bytes) -> Any:
    try:
        return tree_page(data)
    except (ET.ParseError, ValueError) as exc:  # ValueError: a Size that is not a number
        return type(exc)


def test_the_reader_reads_as_elementtree_or_leaves_the_page_to_it():
    rng = Odd(20261206)
    taken = 0
    for number in range(4000):
        rng.odd = 0.0 if number % 3 == 0 else rng.choice([0.01, 0.05, 0.2])
        data = page(rng)
        expected = reference(data)
        got = read_page(data, unquote_plus)
        if got is None:
            assert rng.odd, data  # S3's plain shape is always read without a tree
            continue
        taken += 1
        assert got == expected, data
        # the strings are what ElementTree gives, character for character
        assert [tuple(o) for o in got[0]] == [tuple(o) for o in expected[0]]
    assert taken > 1333  # the plain third, and some of the odd ones, are read without a tree


def test_pages_elementtree_cannot_parse_are_still_refused_by_page():
    rng = Odd(7)
    refused = 0
    for _ in range(1500):
        data = damage(rng, page(rng))
        if reference(data) is not ET.ParseError:
            continue
        refused += 1
        assert read_page(data, unquote_plus) is None, data
        with pytest.raises(ET.ParseError):
            Page(data)
    assert refused > 300


@pytest.mark.parametrize(
    "spelling",
    [
        "a&amp;b",
        "a&#38;b",
        "a&#x26;b",
        "caf&#xe9;",
        "caf\u00e9",
        "&lt;x&gt;&quot;&apos;",
        "tab\there",
        "\U0001f600",
    ],
)
def test_references_in_keys_decode_as_xml_says(spelling: str):
    data = (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult {NS}><IsTruncated>false'
        f"</IsTruncated><Contents><Key>{spelling}</Key><ETag>&quot;e&quot;</ETag><Size>1</Size>"
        "</Contents></ListBucketResult>"
    ).encode()
    got = read_page(data, unquote_plus)
    assert got is not None
    assert got == tree_page(data)
    assert got[0][0].etag == "e"


def test_a_lone_quote_does_not_hide_a_reference_elsewhere():
    # four references, two objects, each ETag in quotes: yet one ETag holds a single one
    data = (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult {NS}>'
        "<Contents><Key>a&amp;b</Key><ETag>&#34;</ETag><Size>1</Size></Contents>"
        "<Contents><Key>c</Key><ETag>&#34;e&#34;</ETag><Size>2</Size></Contents>"
        "</ListBucketResult>"
    ).encode()
    got = read_page(data, unquote_plus)
    assert got == tree_page(data)
    assert got is not None and got[0][0].key == "a&b"


@pytest.mark.parametrize(
    "body",
    [
        "<Key>&#0;</Key>",  # a character XML forbids
        "<Key>&#xD800;</Key>",
        "<Key>&bogus;</Key>",
        "<Key><![CDATA[x]]></Key>",
        "<Key>a\rb</Key>",
        "<Key>a</Key ><Size>1</Size>",
    ],
)
def test_what_the_reader_leaves_to_elementtree(body: str):
    data = (
        f"<?xml version='1.0' encoding='UTF-8'?><ListBucketResult {NS}><Contents>{body}"
        "</Contents></ListBucketResult>"
    ).encode()
    assert read_page(data.replace(b"'", b'"'), unquote_plus) is None


# The two shapes of an object the quick run reads (``listxml.plain_run``): SeaweedFS's order
# and S3's, the ETag's quotes spelled each store's way.
SHAPES = {
    "seaweedfs": "<Contents><Key>{key}</Key><ETag>&#34;{etag}&#34;</ETag><Size>{size}</Size>"
    "<StorageClass>STANDARD</StorageClass><LastModified>2026-12-07T06:39:40Z</LastModified>"
    "</Contents>",
    "s3": "<Contents><Key>{key}</Key><LastModified>2026-12-07T06:39:40.000Z</LastModified>"
    "<ETag>&quot;{etag}&quot;</ETag><Size>{size}</Size><StorageClass>STANDARD</StorageClass>"
    "</Contents>",
}
# One change each that the quick run must not read its way (the page then goes the general
# way, or to ElementTree): the answer must still be ElementTree's.
CHANGES = [
    lambda t: t.replace("<Key>", "<Key>a&amp;b", 1),
    lambda t: t.replace("</Key>", "&#x41;</Key>", 1),
    lambda t: t.replace("</Contents>", "</Contents>\n", 1),
    lambda t: t.replace("</Size>", "</Size> ", 1),
    lambda t: t.replace(
        "</Contents>", "</Contents><CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>", 1
    ),
    lambda t: t.replace("</Contents>", "</Contents><KeyCount>9</KeyCount>", 1),
    lambda t: t.replace("</Size>", "</Size><Owner><ID>x</ID></Owner>", 1),
    lambda t: t.replace("<Size>", "<Key>second</Key><Size>", 1),
    lambda t: t.replace("<StorageClass>STANDARD</StorageClass>", "", 1),
    lambda t: t.replace("&#34;", "", 2).replace("&quot;", "", 2),
    lambda t: t.replace("&#34;", "&quot;", 1).replace("&quot;", "&#34;", 1),
    lambda t: t.replace("</ETag>", "-12</ETag>", 1),
    lambda t: t.replace("&#34;</ETag>", "&amp;&#34;</ETag>", 1).replace(
        "&quot;</ETag>", "&amp;&quot;</ETag>", 1
    ),
    lambda t: t.replace("<Key>", "<Key>\r", 1),
    lambda t: t.replace("<Key>", "<Key>\x01", 1),
    lambda t: t.replace("<Key>", "<Key>\t", 1),
    lambda t: t.replace("<Size>", "<Size>x", 1),
    lambda t: t.replace("</Contents>", "", 1),
    lambda t: t.replace("<Contents>", "<Contents><!--c-->", 1),
    lambda t: t.replace("<Key>", "<Key><![CDATA[x]]>", 1),
    lambda t: t[: t.rfind("</Contents>")] + "</Contents><Contents>" + t[t.rfind("</Contents>") :],
    lambda t: t.replace("</ListBucketResult>", "<Contents></ListBucketResult>"),
]


def shaped_page(rng: Odd, shape: str, count: int, url: bool) -> str:
    """A page as the store sends it: root fields, then ``count`` objects, then a folder."""
    rows = []
    for _ in range(count):
        key = "static/" + "".join(rng.choice("abcXYZ019/._-~ %+\u00e9\u65e5") for _ in range(12))
        key = quote_plus(key, safe="/") if url else key
        etag = "".join(rng.choice("0123456789abcdef") for _ in range(32))
        rows.append(SHAPES[shape].format(key=key, etag=etag, size=rng.randint(0, 10**7)))
    head = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult {NS}><Name>b</Name>'
        "<Prefix>static/</Prefix><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
        + ("<EncodingType>url</EncodingType>" if url else "")
    )
    tail = (
        "<CommonPrefixes><Prefix>static/x/</Prefix></CommonPrefixes>" if rng.random() < 0.3 else ""
    )
    token = "<NextContinuationToken>static/zz</NextContinuationToken>"
    return head + "".join(rows) + tail + token + "</ListBucketResult>"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_run_of_plain_objects_is_read_in_one_pass_as_elementtree_reads_it(shape: str):
    rng = Odd(20261207)
    for number in range(300):
        url = number % 2 == 0
        text = shaped_page(rng, shape, rng.randint(1, 40), url)
        # the quick run takes the store's own page whole (a page it left to the general
        # reader would read the same: this is what makes it quick)
        assert plain_run(text, 0, len(text)) is not None, text
        data = text.encode()
        assert read_page(data, unquote_plus) == reference(data), text
        changed = rng.choice(CHANGES)(text)
        data = changed.encode()
        got = read_page(data, unquote_plus)
        expected = reference(data)
        if isinstance(expected, type):  # ElementTree refuses it: so must the reader
            assert got is None, changed
        elif got is not None:
            assert got == expected, changed
            assert [tuple(o) for o in got[0]] == [tuple(o) for o in expected[0]]


KEYS = [
    "static/a&b.css",
    "static/caf\u00e9 men\u00fc.svg",
    "static/plus+sign%41.js",
    "static/<tag>'quote\".txt",
    "static/\u65e5\u672c/\U0001f600.png",
    "static/tab\there.txt",
]


def test_seaweedfs_pages_are_read_without_a_tree_and_as_elementtree_reads_them(
    s3_env: Any, bucket_name: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FLASK_S3_STORE", "fast")
    store: Any = open_store(
        Spec(bucket=BucketSpec(name=bucket_name, endpoint_url=s3_env.endpoint_url))
    )
    store.create_bucket(s3_env.region, None)
    for key in KEYS:
        put_bytes(store, key, key.encode())
    for encoding in ("url", None):
        query: list[tuple[str, str | None]] = [("list-type", "2"), ("prefix", "static/")]
        query += [("encoding-type", encoding)] if encoding else []
        query += [("max-keys", "4")]
        data = store.requests.send("GET", "", "ListObjectsV2", query=query).data
        got = read_page(data, unquote_plus)
        assert got is not None, data  # the server's own shape: no tree needed
        assert got == tree_page(data)
    assert sorted(o.key for o in store.list_objects("static/")) == sorted(KEYS)


def error_body(rng: Odd) -> bytes:
    """An S3 error answer, each part spelled S3's plain way or (with ``rng.odd``) oddly."""
    items = [
        element(rng, "Code", word(rng)),
        element(rng, "Message", word(rng, 30)),
        element(rng, "Resource", "/bucket"),
        element(rng, "RequestId", word(rng, 16)),
    ]
    if rng.random() < 0.3:
        items.append(element(rng, "Region", rng.choice(["us-east-1", "eu-west-1", word(rng)])))
    if rng.random() < 0.1:  # a field twice: findtext takes the first
        items.append(element(rng, rng.choice(["Code", "Message", "Region"]), word(rng)))
    if rng.random() < 0.05 and rng.odd:
        items.append("<Detail><Code>inner</Code></Detail>")
    rng.shuffle(items)
    declaration = rng.choice(
        [
            '<?xml version="1.0" encoding="UTF-8"?>\n',
            '<?xml version="1.0" encoding="UTF-8"?>',
            "",
            *(["<?xml version='1.0'?>", " ", "\ufeff"] if rng.odd else []),
        ]
    )
    root = rng.choice(
        ["<Error>"] * 8 + (['<Error xmlns="x">', "<Err>", "<Error>x"] if rng.odd else [])
    )
    close = "</Err>" if root == "<Err>" else "</Error>"
    body = declaration + root + space(rng) + "".join(i + space(rng) for i in items) + close
    data = (body + space(rng)).encode("utf-8", "surrogatepass")
    if rng.random() < 0.2 and rng.odd:
        data = damage(rng, data)
    return data


def test_error_bodies_read_as_elementtree_reads_them():
    rng = Odd(20261207)
    taken = 0
    for number in range(3000):
        rng.odd = 0.0 if number % 3 == 0 else rng.choice([0.01, 0.05, 0.2])
        data = error_body(rng)
        expected = tree_error_of(data)
        assert error_of(data) == expected, data
        got = read_error(data)
        if got is None:
            assert rng.odd, data  # S3's plain shape is always read without a tree
            continue
        taken += 1
        assert got == expected, data
    assert taken >= 1000  # every plain one (the odd ones nearly all spell a reference wrongly)
    # references, white space and repeated fields, read without a tree all the same
    for body in (
        b"<Error><Code>A&amp;B</Code><Message>x &#233; &#x1F600; &lt;&gt;&quot;</Message></Error>",
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>\n  <Code>Gone</Code>\n'
        b"  <Region>eu-west-1</Region><Code>Second</Code><Region></Region>\n</Error>\n",
        b"\n<Error><Message>only</Message></Error>",
    ):
        assert read_error(body) is not None, body
        assert read_error(body) == tree_error_of(body) == error_of(body), body


def test_seaweedfs_errors_are_read_without_a_tree(s3_client: Any, bucket_name: str) -> None:
    # a bucket without a policy: the answer every no-op gets for its policy GET
    s3_client.create_bucket(Bucket=bucket_name)
    bodies: list[bytes] = []

    def keep(http_response: Any, **_: Any) -> None:
        bodies.append(http_response.content)

    s3_client.meta.events.register("after-call.s3.GetBucketPolicy", keep)
    with pytest.raises(s3_client.exceptions.ClientError):
        s3_client.get_bucket_policy(Bucket=bucket_name)
    got = read_error(bodies[0])
    assert got is not None and got == tree_error_of(bodies[0])
    assert got[0] == "NoSuchBucketPolicy"
