"""Validate perci-sim documents against the shipped JSON Schemas (draft 2020-12).

The schemas are package data of ``perci_schemas`` (``json/*.schema.json``) and
are read with :mod:`importlib.resources`, so they load from an installed wheel
as well as from a checkout.  All of them are registered under their ``$id`` in
one :class:`referencing.Registry` (they share ``common.schema.json``) and each
gets one :class:`jsonschema.Draft202012Validator`, built on first use.

Formats are enforced.  ``date-time``, ``uri`` and ``email`` use the small
checkers of this module rather than optional jsonschema extras
(``rfc3339-validator``, ``rfc3987``): jsonschema silently accepts anything for
a format whose extra is missing, and this keeps the answer the same in every
installation.

Every violation is reported, each as a :class:`FieldError` whose ``field`` is an
RFC 6901 JSON pointer into the document (``/section_b/reasons/0``).  For a
missing or unexpected member the pointer names that member
(``/section_b/clarification_required``), not the object holding it.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib.resources import files
from typing import Any, Final
from urllib.parse import urljoin, urlsplit

from jsonschema import (  # type: ignore[import-untyped]
    Draft202012Validator,
    FormatChecker,
)
from jsonschema.exceptions import (  # type: ignore[import-untyped]
    ValidationError,
    best_match,
)
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from perci_schemas.messages import PARTY_MESSAGE_TYPES

__all__ = [
    "SCHEMA_NAMES",
    "FieldError",
    "SchemaViolation",
    "load_example",
    "load_schema",
    "validate",
    "validate_message",
]

_PACKAGE: Final = "perci_schemas"

#: The schemas a document can be validated against: one per party message
#: type, the two broker-signed payloads, the views, the problem body and the drill
#: scenario (issue 4; YAML, not a party message).
SCHEMA_NAMES: tuple[str, ...] = (
    *PARTY_MESSAGE_TYPES,
    "receipt",
    "event",
    "order_view",
    "participant_view",
    "problem",
    "scenario",
    # Batches of referrals and referral outcomes (a Referral Action Day).
    "document_batch",
    "referral_view",
    "referral_batch_result",
)

#: Definitions shared by the schemas above; loadable, not a document type.
_COMMON: Final = "common"

_MAX_MESSAGE: Final = 200


@dataclass(frozen=True, slots=True, order=True)
class FieldError:
    """One violation: where in the document (a JSON pointer) and what is wrong."""

    field: str
    message: str


class SchemaViolation(ValueError):
    """A document does not match its schema; ``errors`` lists every violation, sorted."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = sorted(set(errors))
        shown = "; ".join(f"{e.field or '/'}: {e.message}" for e in self.errors[:3])
        more = len(self.errors) - 3
        suffix = f" (and {more} more)" if more > 0 else ""
        super().__init__(f"the document does not match its schema: {shown}{suffix}")


# --- formats -------------------------------------------------------------------------------------

# RFC 3339 §5.6 date-time; the offset is mandatory (R24: the original offset is kept).
# NOTE: only the upper-case "T" and "Z" that RFC 3339 recommends: the broker parses
# instants with datetime.fromisoformat, which refuses the lower-case forms.
_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
# RFC 3986 §3: scheme ":" and then only unreserved, reserved or percent-encoded characters.
_URI = re.compile(
    r"[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9._~:/?#\[\]@!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*"
)
# RFC 5321 mailbox with a dot-atom local part and a DNS domain (no quoted parts, no IP literals).
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = re.compile(
    rf"{_ATOM}(?:\.{_ATOM})*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}}"
)


def _is_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if not _DATE_TIME.fullmatch(instance):
        return False
    # Raises ValueError for impossible values (month 13, hour 25, offset 24:00, ...).
    parsed = datetime.fromisoformat(instance.replace("Z", "+00:00"))
    return parsed.tzinfo is not None


def _is_uri(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    if not _URI.fullmatch(instance):
        return False
    parts = urlsplit(instance)  # ValueError on unbalanced IPv6 brackets
    _ = parts.port  # ValueError on a port that is not a number in range
    return parts.scheme.lower() not in {"http", "https"} or bool(parts.hostname)


def _is_email(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    local = instance.rpartition("@")[0]
    return len(local) <= 64 and _EMAIL.fullmatch(instance) is not None


def _format_checker() -> Any:
    """Return Draft 2020-12's format checker with strict date-time, uri and email.

    Works on a copy: the checker jsonschema shares between all its users is not changed.
    """
    checker = FormatChecker(formats=())
    checker.checkers.update(Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checks("date-time", raises=ValueError)(_is_date_time)
    checker.checks("uri", raises=ValueError)(_is_uri)
    checker.checks("email")(_is_email)  # jsonschema's own only looks for an "@"
    return checker


# --- loading -------------------------------------------------------------------------------------


def _read_json(folder: str, filename: str) -> dict[str, Any]:
    text = files(_PACKAGE).joinpath(folder).joinpath(filename).read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{folder}/{filename} does not hold a JSON object")
    return data


@cache
def _schemas() -> dict[str, dict[str, Any]]:
    return {name: _read_json("json", f"{name}.schema.json") for name in (*SCHEMA_NAMES, _COMMON)}


#: Keywords whose value is a map of names to subschemas.
_SCHEMA_MAPS: Final = frozenset({"properties", "patternProperties", "dependentSchemas", "$defs"})
#: Keywords whose value is data, not a subschema.
_DATA_KEYWORDS: Final = frozenset({"enum", "const", "required", "examples", "default"})
#: Keywords that only annotate: dropped next to an inlined ``$ref``.
_ANNOTATIONS: Final = frozenset({"description", "title", "$comment", "examples", "default"})


def _inline(node: Any, base: str, registry: Registry[Any], expanding: frozenset[str]) -> Any:
    """Return ``node`` with every ``$ref`` replaced by the subschema it names.

    jsonschema resolves a ``$ref`` on every validation (a lookup and a new validator
    each time): inlining them once makes validation several times cheaper and reports
    the same errors (a ``$ref`` yields its target's errors unchanged; with validating
    siblings it becomes an ``allOf``, which does the same).  A recursive reference is
    left in place, made absolute so it resolves from anywhere.
    """
    if isinstance(node, list):
        return [_inline(item, base, registry, expanding) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "$ref" or key in _DATA_KEYWORDS:
            out[key] = value
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = (
                value
                if key == "$defs"
                else {name: _inline(sub, base, registry, expanding) for name, sub in value.items()}
            )
        else:
            out[key] = _inline(value, base, registry, expanding)
    ref = out.get("$ref")
    if not isinstance(ref, str):
        return out
    target = urljoin(base, ref)
    if target in expanding:
        return {**out, "$ref": target}
    resolved = registry.resolver(base_uri=base).lookup(ref)
    inlined = _inline(resolved.contents, target.partition("#")[0], registry, expanding | {target})
    rest = {k: v for k, v in out.items() if k != "$ref" and k not in _ANNOTATIONS}
    if not rest:
        return inlined
    return {**rest, "allOf": [*rest.get("allOf", []), inlined]}


@cache
def _validators() -> dict[str, Any]:
    schemas = _schemas()
    resources: list[tuple[str, Resource[Any]]] = [
        (schema["$id"], DRAFT202012.create_resource(schema)) for schema in schemas.values()
    ]
    registry: Registry[Any] = Registry().with_resources(resources).crawl()
    checker = _format_checker()
    return {
        name: Draft202012Validator(
            _inline(schemas[name], schemas[name]["$id"], registry, frozenset()),
            registry=registry,
            format_checker=checker,
        )
        for name in SCHEMA_NAMES
    }


def load_schema(name: str) -> dict[str, Any]:
    """Return a copy of the schema ``name`` (one of :data:`SCHEMA_NAMES`, or ``"common"``).

    Raises:
        ValueError: there is no such schema.
    """
    if name not in SCHEMA_NAMES and name != _COMMON:
        raise ValueError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}, common")
    return copy.deepcopy(_schemas()[name])


def load_example(name: str) -> dict[str, Any]:
    """Return the shipped example document ``examples/<name>.json`` (e.g. ``"removal_order"``).

    Raises:
        FileNotFoundError: there is no such example.
    """
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise FileNotFoundError(f"no example named {name!r}")
    return _read_json("examples", f"{name}.json")


# --- validation ----------------------------------------------------------------------------------


def validate(name: str, document: object) -> None:
    """Check ``document`` against the schema ``name``.

    Raises:
        SchemaViolation: with every violation found.
        ValueError: ``name`` is not one of :data:`SCHEMA_NAMES`.
    """
    try:
        validator = _validators()[name]
    except KeyError:
        raise ValueError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}") from None
    errors = [fe for error in validator.iter_errors(document) for fe in _field_errors(error)]
    if errors:
        raise SchemaViolation(errors)


def validate_message(document: object) -> str:
    """Check a party document against the schema its ``message_type`` names; return that type.

    Raises:
        SchemaViolation: the document is not an object, its ``message_type`` is
            missing or unknown (reported on ``/message_type``), or it does not
            match its schema.
    """
    if not isinstance(document, Mapping):
        raise SchemaViolation([FieldError("", "must be a JSON object")])
    message_type = document.get("message_type")
    if message_type is None:
        raise SchemaViolation([FieldError("/message_type", "is required")])
    if message_type not in PARTY_MESSAGE_TYPES:
        raise SchemaViolation([FieldError("/message_type", _one_of(PARTY_MESSAGE_TYPES))])
    validate(message_type, document)
    return str(message_type)


def _pointer(path: Iterable[object]) -> str:
    """Return the RFC 6901 JSON pointer of ``path``."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def _one_of(values: Iterable[object]) -> str:
    return "must be one of: " + ", ".join(json.dumps(v) for v in values)


def _field_errors(error: ValidationError) -> list[FieldError]:
    """Turn one jsonschema error into field errors, naming missing or unexpected members."""
    path = list(error.absolute_path)
    instance = error.instance
    if error.validator == "required" and isinstance(instance, dict):
        missing = [p for p in error.validator_value if p not in instance]
        return [FieldError(_pointer([*path, p]), "is required") for p in missing]
    if error.validator == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        declared = schema.get("properties", {})
        patterns = list(schema.get("patternProperties", {}))
        extra = [
            key
            for key in instance
            if key not in declared and not any(re.search(p, key) for p in patterns)
        ]
        return [FieldError(_pointer([*path, key]), "is not allowed here") for key in extra]
    if error.validator in ("anyOf", "oneOf") and error.context and not _alternatives(error):
        # Report the closest alternative's own error (``/webhook_url`` "does not match
        # the pattern ^https?://") rather than "matches no alternative"; an alternative
        # refusing the value's very type (e.g. ``null``) is the least close.
        fitting = [e for e in error.context if e.validator != "type"]
        if fitting:
            return _field_errors(best_match(fitting))
        kinds = [k for e in error.context for k in _as_list(e.validator_value)]
        return [FieldError(_pointer(path), f"must be of type {' or '.join(kinds)}")]
    return [FieldError(_pointer(path), _message(error))]


def _as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _alternatives(error: ValidationError) -> list[str]:
    """Return the member names of a ``oneOf``/``anyOf`` made only of ``required`` lists."""
    options = error.validator_value
    if not all(isinstance(s, dict) and set(s) == {"required"} for s in options):
        return []
    return [name for s in options for name in s["required"]]


#: Messages for size and range keywords, so that the offending value is not echoed.
_BOUNDS: Final = {
    "minLength": "must be at least {} characters long",
    "maxLength": "must be at most {} characters long",
    "minItems": "must have at least {} items",
    "maxItems": "must have at most {} items",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "exclusiveMinimum": "must be greater than {}",
    "exclusiveMaximum": "must be less than {}",
}


def _message(error: ValidationError) -> str:
    """Say what is wrong without echoing the (possibly large) offending value."""
    keyword, value = error.validator, error.validator_value
    if keyword == "const":
        return f"must be {json.dumps(value)}"
    if keyword == "enum":
        return _one_of(value)
    if keyword == "type":
        return f"must be of type {' or '.join(_as_list(value))}"
    if keyword == "format":
        return f"is not a valid {value}"
    if keyword == "pattern":
        return f"does not match the pattern {value}"
    if keyword in ("minLength", "minItems", "minProperties") and value == 1:
        return "must not be empty"
    if keyword in _BOUNDS:
        return _BOUNDS[keyword].format(value)
    if keyword == "not" and isinstance(value, dict) and set(value) == {"required"}:
        return f"must not contain {', '.join(repr(n) for n in value['required'])}"
    if keyword == "uniqueItems":
        return "must not contain duplicates"
    if keyword in ("oneOf", "anyOf") and (names := _alternatives(error)):
        quantity = "exactly" if keyword == "oneOf" else "at least"
        return f"{quantity} one of {', '.join(repr(n) for n in names)} is required"
    message = str(error.message)
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"
