"""Content-hash ids and the one text normalisation done at ingest.

Ids are xxh3-128 hashes of normalised content, so ingesting the same thing twice yields the
same ids (a no-op); `text_sha` is the sha256 that every span carries for the text its
offsets refer to.
"""
from __future__ import annotations

import hashlib

import xxhash

_SEP = "\x1f"  # unit separator: cannot appear inside normalised fields by accident


def normalise_text(text: str) -> str:
    """Strip a leading BOM and turn CRLF / lone CR into LF. Applied once, before hashing."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def content_id(*parts: object) -> str:
    """A stable 32-hex id of the given parts (None hashes as the empty string)."""
    joined = _SEP.join("" if p is None else str(p) for p in parts)
    return xxhash.xxh3_128_hexdigest(joined.encode("utf-8"))


def text_sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
