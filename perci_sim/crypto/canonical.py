"""RFC 8785 (JCS) canonical JSON, byte for byte what :func:`perci_schemas.jws.canonical_json`
returns, several times faster on the broker's hot path.

The broker canonicalises every accepted document three times (its payload's
fingerprint, its event's chain hash, its receipt's payload), and the ``rfc8785``
package is pure Python.  For JSON made only of objects with string keys, arrays,
strings, booleans, null and integers within ±(2**53 - 1) (everything the broker
hashes or signs is), JCS is exactly the C-accelerated ``json`` encoder with sorted
keys, no whitespace and no ASCII escaping:

* strings: both escape ``"``, ``\\``, ``\\b \\f \\n \\r \\t`` by name and every other
  control character as ``\\u00xx`` (lowercase hex), nothing else;
* integers: both print them in decimal;
* object members: JCS sorts keys by their UTF-16 code units, Python by code
  points; the two orders agree for keys below U+D800, the only keys taken here.

Anything else (a float, a key at or above U+D800, an integer out of range, a tuple,
a subclass, a lone surrogate) goes to ``rfc8785`` itself, errors included.
``tests/contract/test_hot_path_crypto.py`` compares both on many shapes.
"""

from __future__ import annotations

import json
from typing import Any

import rfc8785

__all__ = ["canonical_json"]

_INT_MAX = 2**53 - 1
_ENCODER = json.JSONEncoder(
    ensure_ascii=False,
    check_circular=False,
    allow_nan=False,
    sort_keys=True,
    separators=(",", ":"),
)
#: Keys below this code point sort the same by code point and by UTF-16 code unit.
_SURROGATES = "\ud800"


def _plain(value: Any) -> bool:
    """True when ``value`` is JSON whose JCS form the ``json`` encoder writes exactly."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_INT_MAX <= value <= _INT_MAX)
    if kind is dict:
        for key, member in value.items():
            if type(key) is not str:
                return False
            if not key.isascii() and max(key) >= _SURROGATES:
                return False
            if not _plain(member):
                return False
        return True
    if kind is list:
        return all(_plain(member) for member in value)
    return False


def canonical_json(document: dict[str, Any]) -> bytes:
    """Return the RFC 8785 (JCS) canonical form of ``document`` (see the module docstring)."""
    if _plain(document):
        try:
            return _ENCODER.encode(document).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 refuses it
    return bytes(rfc8785.dumps(document))
