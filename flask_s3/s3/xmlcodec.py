"""S3's XML, read and written the way botocore does (same bytes out, same values in)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from .errors import StoreError
from .listxml import read_error, read_page
from .store import ObjectInfo, listed

if TYPE_CHECKING:
    import xml.etree.ElementTree as ET

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
XMLNS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
_CONTENTS, _KEY, _SIZE, _ETAG = (NS + name for name in ("Contents", "Key", "Size", "ETag"))


class Page:
    """One ListObjectsV2 page. Keys come URL-encoded (encoding-type=url, as botocore asks), so
    a key with a character XML 1.0 cannot carry still lists."""

    def __init__(self, data: bytes) -> None:
        # S3's usual shape without a tree; anything else as ElementTree reads it
        read = read_page(data, unquote_plus) or tree_page(data)
        self.objects, self.folders, self.next_token = read


def tree_page(data: bytes) -> tuple[list[ObjectInfo], list[str], str | None]:
    """(objects, folders, next token) of a ListObjectsV2 page, read by ElementTree: any XML.

    ElementTree's ParseError (a SyntaxError) when it is not XML."""
    import xml.etree.ElementTree as ET  # only for pages the regular reader leaves to it

    root = ET.fromstring(data)
    encoded = root.findtext(f"{NS}EncodingType") == "url"
    decode = unquote_plus if encoded else _same
    objects = list(_contents(root, decode))
    folders = [decode(p.findtext(f"{NS}Prefix") or "") for p in root.iter(f"{NS}CommonPrefixes")]
    token = root.findtext(f"{NS}NextContinuationToken")
    return objects, folders, token if root.findtext(f"{NS}IsTruncated") == "true" else None


def _root(data: bytes) -> ET.Element:
    """The answer's root element; a StoreError (not a traceback) when it is not XML."""
    import xml.etree.ElementTree as ET  # answers other than listings: not on every run

    try:
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise StoreError("MalformedAnswer", 200, f"an answer that is not XML: {exc}") from None


def escape(text: str) -> str:
    """``text`` as XML character data: ``&``, ``<`` and ``>`` escaped (what S3 bodies need)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _same(value: str) -> str:
    return value


def _contents(root: ET.Element, decode: Any) -> Iterator[ObjectInfo]:
    # Walks the children directly: ``findtext`` per field costs twice the parse itself.
    for item in root:
        if item.tag != _CONTENTS:
            continue
        key = size = etag = None
        for child in item:
            tag = child.tag
            if tag == _KEY:
                key = child.text
            elif tag == _SIZE:
                size = child.text
            elif tag == _ETAG:
                etag = child.text
        yield listed(decode(key or ""), int(size or 0), etag or "")


def error_of(data: bytes) -> tuple[str, str, str]:
    """(code, message, region) of an error body; empty strings when there is none."""
    plain = read_error(data)  # S3's flat shape, without ElementTree's import
    return plain if plain is not None else tree_error_of(data)


def tree_error_of(data: bytes) -> tuple[str, str, str]:
    """``error_of`` by ElementTree, for a body of any shape (and the flat reader's reference)."""
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return "", "", ""
    return (
        root.findtext("Code") or "",
        root.findtext("Message") or "",
        root.findtext("Region") or "",
    )


def is_error_body(data: bytes) -> bool:
    """CopyObject may answer 200 and put its error in the body."""
    head = data.lstrip()[:200]
    return b"<Error>" in head or b"<Error " in head


def parse_cors(data: bytes) -> list[dict[str, Any]]:
    """GetBucketCors's XML as boto3 gives it (namespace or not)."""
    rules: list[dict[str, Any]] = []
    for rule in _root(data).iter():
        if rule.tag.rsplit("}", 1)[-1] != "CORSRule":
            continue
        out: dict[str, Any] = {}
        for child in rule:
            name = child.tag.rsplit("}", 1)[-1]
            text = (child.text or "").strip()
            if name == "MaxAgeSeconds":
                out[name] = int(text or 0)
            elif name in ("AllowedOrigin", "AllowedMethod", "AllowedHeader", "ExposeHeader"):
                out.setdefault(name + "s", []).append(text)
            elif name == "ID":
                out[name] = text
        rules.append(out)
    return rules


_CORS_TAGS = {
    "ID": "ID",
    "AllowedHeaders": "AllowedHeader",
    "AllowedMethods": "AllowedMethod",
    "AllowedOrigins": "AllowedOrigin",
    "ExposeHeaders": "ExposeHeader",
    "MaxAgeSeconds": "MaxAgeSeconds",
}


def cors_xml(rules: Sequence[Mapping[str, Any]]) -> bytes:
    """PutBucketCors's body; botocore writes a rule's members in the order they were given."""
    parts = [f"<CORSConfiguration {XMLNS}>"]
    for rule in rules:
        parts.append("<CORSRule>")
        for field, value in rule.items():
            tag = _CORS_TAGS[field]
            for item in value if isinstance(value, list) else [value]:
                parts.append(f"<{tag}>{escape(str(item))}</{tag}>")
        parts.append("</CORSRule>")
    parts.append("</CORSConfiguration>")
    return "".join(parts).encode()


def delete_xml(keys: Sequence[str]) -> bytes:
    objects = "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in keys)
    return f"<Delete {XMLNS}>{objects}<Quiet>true</Quiet></Delete>".encode()


def delete_errors(data: bytes) -> dict[str, str]:
    """Keys a DeleteObjects answer lists as failed, with their code."""
    failed: dict[str, str] = {}
    for error in _root(data).iter(f"{NS}Error"):
        failed[error.findtext(f"{NS}Key") or "?"] = error.findtext(f"{NS}Code") or "?"
    return failed


def create_bucket_xml(region: str) -> bytes:
    return (
        f"<CreateBucketConfiguration {XMLNS}><LocationConstraint>{escape(region)}"
        "</LocationConstraint></CreateBucketConfiguration>"
    ).encode()


def _element(tag: str, value: Any) -> str:
    if isinstance(value, Mapping):
        inner = "".join(_element(k, v) for k, v in value.items())
    elif isinstance(value, bool):
        inner = "true" if value else "false"
    else:
        inner = escape(str(value))
    return f"<{tag}>{inner}</{tag}>"


def encryption_xml(rule: Mapping[str, Any]) -> bytes:
    """PutBucketEncryption's body for one rule, members in the order given (as botocore)."""
    return (
        f"<ServerSideEncryptionConfiguration {XMLNS}>{_element('Rule', rule)}"
        "</ServerSideEncryptionConfiguration>"
    ).encode()


def parse_public_access_block(data: bytes) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for child in _root(data):
        out[child.tag.rsplit("}", 1)[-1]] = (child.text or "").strip().lower() == "true"
    return out


def text_of(data: bytes, name: str) -> str:
    """The text of the first element called ``name`` (any namespace) in an answer."""
    for element in _root(data).iter():
        if element.tag.rsplit("}", 1)[-1] == name:
            return (element.text or "").strip()
    return ""


def complete_xml(parts: Sequence[tuple[int, str]]) -> bytes:
    """CompleteMultipartUpload's body, as botocore writes ``{"Parts": [{ETag, PartNumber}]}``."""
    inner = "".join(
        f"<Part><ETag>{escape(etag)}</ETag><PartNumber>{number}</PartNumber></Part>"
        for number, etag in parts
    )
    return f"<CompleteMultipartUpload {XMLNS}>{inner}</CompleteMultipartUpload>".encode()


def uploads_of(data: bytes) -> tuple[list[tuple[str, str]], str, str]:
    """(key, upload id) of a ListMultipartUploads page, and the next key and id markers."""
    root = _root(data)
    found = [
        (u.findtext(f"{NS}Key") or "", u.findtext(f"{NS}UploadId") or "")
        for u in root.iter(f"{NS}Upload")
    ]
    if root.findtext(f"{NS}IsTruncated") != "true":
        return found, "", ""
    return (
        found,
        root.findtext(f"{NS}NextKeyMarker") or "",
        root.findtext(f"{NS}NextUploadIdMarker") or "",
    )
