"""perci_schemas: the wire contract of perci-sim, shipped as package data.

JSON Schemas (draft 2020-12) for every document of the exchange (TCO Annex I,
II and III and the other messages), example documents, the OpenAPI
description, and the JWS signing used on the wire (:mod:`perci_schemas.jws`).

Example::

    from perci_schemas import SchemaViolation, load_example, validate, validate_message

    order = load_example("removal_order")
    validate_message(order)  # dispatches on order["message_type"]; returns it

    order["section_b"]["reasons"] = ["z"]
    try:
        validate("removal_order", order)
    except SchemaViolation as exc:
        for error in exc.errors:
            print(error.field, error.message)  # /section_b/reasons/0 must be one of: "a", ...
"""

from __future__ import annotations

from perci_schemas.validation import (
    SCHEMA_NAMES,
    FieldError,
    SchemaViolation,
    load_example,
    load_schema,
    validate,
    validate_message,
)

__all__ = [
    "SCHEMA_NAMES",
    "FieldError",
    "SchemaViolation",
    "load_example",
    "load_schema",
    "validate",
    "validate_message",
]
