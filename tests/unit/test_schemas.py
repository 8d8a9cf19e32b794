"""The shipped JSON Schemas, examples, validation API and OpenAPI document (perci_schemas)."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import tomllib
import zipfile
from collections.abc import Callable, Iterator
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from perci_schemas import (
    SCHEMA_NAMES,
    FieldError,
    SchemaViolation,
    jws,
    keys,
    load_example,
    load_schema,
    validate,
    validate_message,
)
from perci_schemas.messages import MESSAGE_TYPES, PARTY_MESSAGE_TYPES

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = files("perci_schemas")
ID_BASE = "https://perci-sim.eu/schemas/"
ALL_SCHEMAS = (*SCHEMA_NAMES, "common")
EXAMPLE_NAMES = sorted(
    p.name.removesuffix(".json") for p in PACKAGE.joinpath("examples").iterdir() if p.is_file()
)
#: Examples whose file name is not their schema's name.
EXAMPLE_SCHEMA = {
    "removal_order_incomplete": "removal_order",
    "impossibility_insufficient": "impossibility",
}
PARTICIPANTS = {
    "de-bka",
    "fr-ocrim",
    "es-cgi",
    "hsp-alpha",
    "hsp-beta",
    "hsp-gamma",
    # Issue 3: host authorities, Europol, a content provider, a court (perci-sim init).
    "ie-cnam",
    "nl-atkm",
    "europol",
    "cp-demo",
    "de-court",
}


def schema_of(example: str) -> str:
    return EXAMPLE_SCHEMA.get(example, example)


def violations(name: str, document: object) -> list[FieldError]:
    with pytest.raises(SchemaViolation) as info:
        validate(name, document)
    return info.value.errors


def walk(node: object, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Yield (path, node) for every node of a JSON-like tree."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, str(index)))


def resolve_pointer(document: Any, pointer: str) -> Any:
    node = document
    for token in pointer.lstrip("/").split("/") if pointer.strip("/") else []:
        token = token.replace("~1", "/").replace("~0", "~")
        node = node[int(token)] if isinstance(node, list) else node[token]
    return node


def registry() -> Registry[Any]:
    schemas = [load_schema(name) for name in ALL_SCHEMAS]
    return Registry().with_resources((s["$id"], DRAFT202012.create_resource(s)) for s in schemas)


class TestSchemaFiles:
    """Every schema file is a well-formed, self-consistent draft 2020-12 schema."""

    def test_files_on_disk_are_the_known_schemas(self) -> None:
        """json/ holds exactly one file per SCHEMA_NAMES entry plus common."""
        on_disk = {p.name for p in PACKAGE.joinpath("json").iterdir() if p.is_file()}
        assert on_disk == {f"{name}.schema.json" for name in ALL_SCHEMAS}

    @pytest.mark.parametrize("name", ALL_SCHEMAS)
    def test_check_schema(self, name: str) -> None:
        """The schema is valid against the draft 2020-12 metaschema."""
        Draft202012Validator.check_schema(load_schema(name))

    @pytest.mark.parametrize("name", ALL_SCHEMAS)
    def test_dialect_and_id(self, name: str) -> None:
        """Each schema declares draft 2020-12 and its $id under perci-sim.eu."""
        schema = load_schema(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert schema["$id"] == f"{ID_BASE}{name}.schema.json"

    @pytest.mark.parametrize("name", ALL_SCHEMAS)
    def test_every_ref_resolves(self, name: str) -> None:
        """Every $ref in the schema resolves through the shared registry."""
        schema = load_schema(name)
        resolver = registry().resolver(base_uri=schema["$id"])
        refs = [
            node["$ref"] for _, node in walk(schema) if isinstance(node, dict) and "$ref" in node
        ]
        assert refs
        for ref in refs:
            assert resolver.lookup(ref).contents is not None, ref

    @pytest.mark.parametrize("name", PARTY_MESSAGE_TYPES)
    def test_message_type_is_const(self, name: str) -> None:
        """A party document's message_type is a const naming its schema, and required."""
        schema = load_schema(name)
        assert schema["properties"]["message_type"] == {"const": name}
        assert {"message_type", "message_id", "sender", "sent_at"} <= set(schema["required"])

    def test_removal_order_requires_only_structural_members(self) -> None:
        """Annex I: only the members API.md calls structural are required (R2 flags the rest)."""
        schema = load_schema("removal_order")
        required = {
            path: set(node["required"])
            for path, node in walk(schema)
            if isinstance(node, dict) and "required" in node
        }
        assert required == {
            (): {"message_type", "message_id", "sender", "sent_at", "language", "section_a"},
            ("properties", "section_a"): {"addressee", "issuing_member_state", "reference_number"},
            ("properties", "section_a", "properties", "addressee"): {"hsp_id"},
        }

    def test_removal_order_sections_are_closed(self) -> None:
        """Every object in Annex I refuses unknown members."""
        schema = load_schema("removal_order")
        objects = [
            path
            for path, node in walk(schema)
            if isinstance(node, dict) and node.get("type") == "object"
        ]
        assert len(objects) == 12
        for path in objects:
            assert resolve_pointer(schema, "/" + "/".join(path))["additionalProperties"] is False

    def test_member_states_are_the_eu_27(self) -> None:
        """The member_state enum is the EU-27, with EL for Greece."""
        states = load_schema("common")["$defs"]["member_state"]["enum"]
        assert len(states) == len(set(states)) == 27
        assert "EL" in states
        assert "GR" not in states
        assert "UK" not in states

    def test_load_schema_returns_a_copy(self) -> None:
        """Changing a loaded schema does not change what validate uses."""
        load_schema("withdrawal")["required"].clear()
        assert "reason" in load_schema("withdrawal")["required"]
        document = load_example("withdrawal")
        del document["reason"]
        assert [e.field for e in violations("withdrawal", document)] == ["/reason"]

    def test_unknown_schema_name(self) -> None:
        """An unknown schema name is a programming error, not a violation."""
        with pytest.raises(ValueError, match="unknown schema 'nope'"):
            load_schema("nope")
        with pytest.raises(ValueError, match="unknown schema 'common'"):
            validate("common", {})


class TestExamples:
    """The shipped examples are valid, realistic and survive signing."""

    def test_every_schema_has_an_example(self) -> None:
        """examples/ has <schema>.json for every schema, plus the two R2/R7 variants."""
        assert set(SCHEMA_NAMES) | set(EXAMPLE_SCHEMA) <= set(EXAMPLE_NAMES)

    @pytest.mark.parametrize("example", EXAMPLE_NAMES)
    def test_example_validates(self, example: str) -> None:
        """Each example validates against its schema."""
        validate(schema_of(example), load_example(example))

    @pytest.mark.parametrize("example", EXAMPLE_NAMES)
    def test_example_uses_the_cast(self, example: str) -> None:
        """Examples use only the agreed participant ids."""
        document = load_example(example)
        ids = {
            value
            for path, value in walk(document)
            if path and path[-1] in {"sender", "recipient", "hsp_id", "authority_id", "actor", "id"}
        }
        assert ids <= PARTICIPANTS

    @pytest.mark.parametrize(
        "example", [e for e in EXAMPLE_NAMES if schema_of(e) in PARTY_MESSAGE_TYPES]
    )
    def test_validate_message_dispatches(self, example: str) -> None:
        """validate_message picks the schema from message_type and returns the type."""
        assert validate_message(load_example(example)) == schema_of(example)

    def test_order_example_is_bka_to_irish_hsp_in_english(self) -> None:
        """The reference order: German BKA to hsp-alpha (IE), in English, cross-border."""
        order = load_example("removal_order")
        assert order["sender"] == "de-bka"
        assert order["language"] == "en"
        assert order["section_a"]["issuing_member_state"] == "DE"
        assert order["section_a"]["hsp_member_state"] == "IE"
        assert order["section_a"]["addressee"]["hsp_id"] == "hsp-alpha"
        assert order["section_d"]["host_member_state_differs"] is True
        urls = [item["url"] for item in order["section_b"]["content"]]
        assert urls
        assert all(re.match(r"https://[a-z.]*example\.com/", url) for url in urls)

    def test_incomplete_order_is_structurally_valid(self) -> None:
        """R2: the order lacking reasons and Section G is valid, so it can be flagged."""
        order = load_example("removal_order_incomplete")
        assert "reasons" not in order["section_b"]
        assert "section_g" not in order
        validate("removal_order", order)

    def test_insufficient_information_example(self) -> None:
        """R7: the Annex III example asks for clarification."""
        notice = load_example("impossibility_insufficient")
        assert notice["section_b"]["reasons"] == ["insufficient_information"]
        assert notice["section_b"]["clarification_required"]

    def test_acknowledgement_hashes_the_order_jws(self) -> None:
        """The examples chain: the acknowledgement names the hash of the order JWS."""
        view = load_example("order_view")
        assert load_example("acknowledgement")["order_sha256"] == jws.document_hash(
            view["document"]
        )
        assert load_example("receipt")["document_sha256"] == jws.document_hash(view["document"])
        assert jws.peek_header(view["document"])["typ"] == "perci.removal-order+jws"

    # NOTE: joserfc flags EdDSA as deprecated by RFC 9864; the exchange specifies it (jws.py).
    @pytest.mark.filterwarnings("ignore:EdDSA is deprecated")
    @pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
    @pytest.mark.parametrize("example", [e for e in EXAMPLE_NAMES if schema_of(e) in MESSAGE_TYPES])
    def test_sign_verify_round_trip(self, example: str, alg: str) -> None:
        """Signing and verifying an example returns it unchanged, and it still validates."""
        document = load_example(example)
        message_type = schema_of(example)
        key = keys.generate(alg)
        token = jws.sign(document, key=key, kid="de-bka#1", message_type=message_type)
        signed = jws.verify(token, expected_type=message_type, resolve_key=lambda _kid: key.public)
        assert signed.payload == document
        assert signed.message_type == message_type
        validate(message_type, signed.payload)


def _set(pointer: str, value: object) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        parent, _, token = pointer.rpartition("/")
        key = token.replace("~1", "/").replace("~0", "~")
        node = resolve_pointer(document, parent)
        node[int(key) if isinstance(node, list) else key] = value

    return mutate


def _delete(pointer: str) -> Callable[[dict[str, Any]], None]:
    def mutate(document: dict[str, Any]) -> None:
        parent, _, key = pointer.rpartition("/")
        del resolve_pointer(document, parent)[key]

    return mutate


#: (example, mutation, the one field reported, a fragment of its message)
INVALID: dict[str, tuple[str, Callable[[dict[str, Any]], None], str, str]] = {
    "order missing reference_number": (
        "removal_order",
        _delete("/section_a/reference_number"),
        "/section_a/reference_number",
        "is required",
    ),
    "order missing hsp_id": (
        "removal_order_incomplete",
        _delete("/section_a/addressee/hsp_id"),
        "/section_a/addressee/hsp_id",
        "is required",
    ),
    "order missing language": ("removal_order", _delete("/language"), "/language", "is required"),
    "feedback missing section_b": ("feedback", _delete("/section_b"), "/section_b", "required"),
    "feedback missing measure_at": (
        "feedback",
        _delete("/section_b/measure_at"),
        "/section_b/measure_at",
        "is required",
    ),
    "reason outside a-e": (
        "removal_order",
        _set("/section_b/reasons/0", "f"),
        "/section_b/reasons/0",
        '"e"',
    ),
    "duplicate reasons": (
        "removal_order",
        _set("/section_b/reasons", ["a", "a"]),
        "/section_b/reasons",
        "duplicates",
    ),
    "no reasons ticked": (
        "removal_order",
        _set("/section_b/reasons", []),
        "/section_b/reasons",
        "empty",
    ),
    "Greece as GR": (
        "removal_order",
        _set("/section_a/issuing_member_state", "GR"),
        "/section_a/issuing_member_state",
        '"EL"',
    ),
    "authority type": (
        "removal_order",
        _set("/section_e/authority_type", "police"),
        "/section_e/authority_type",
        "law_enforcement",
    ),
    "measure": (
        "feedback",
        _set("/section_b/measure", "deleted"),
        "/section_b/measure",
        "disabled_all_ms",
    ),
    "impossibility reason": (
        "impossibility",
        _set("/section_b/reasons/0", "outage"),
        "/section_b/reasons/0",
        "force_majeure",
    ),
    "date-time with a space": (
        "removal_order",
        _set("/sent_at", "2026-11-25 10:00:00+01:00"),
        "/sent_at",
        "date-time",
    ),
    "date-time without offset": (
        "removal_order",
        _set("/section_a/issued_at", "2026-11-25T10:58:00"),
        "/section_a/issued_at",
        "date-time",
    ),
    "impossible date-time": (
        "feedback",
        _set("/section_b/measure_at", "2026-02-30T10:00:00Z"),
        "/section_b/measure_at",
        "date-time",
    ),
    "date-time in words": (
        "grounds_ceased",
        _set("/ceased_at", "this morning"),
        "/ceased_at",
        "date-time",
    ),
    "date with a time": (
        "feedback",
        _set("/section_c/date", "2026-11-25T10:00:00Z"),
        "/section_c/date",
        "date",
    ),
    "content url with spaces": (
        "removal_order",
        _set("/section_b/content/0/url", "video example com/watch"),
        "/section_b/content/0/url",
        "uri",
    ),
    "relative content url": (
        "removal_order",
        _set("/section_b/content/1/url", "/d/8c1e5b/manual.pdf"),
        "/section_b/content/1/url",
        "uri",
    ),
    "http url without host": (
        "removal_order",
        _set("/section_g/national_provision_url", "https://"),
        "/section_g/national_provision_url",
        "uri",
    ),
    "webhook over ftp": (
        "participant_view",
        _set("/webhook_url", "ftp://hsp-alpha.example.com/hook"),
        "/webhook_url",
        "pattern",
    ),
    "email without domain": (
        "removal_order",
        _set("/section_e/email", "tco-orders@"),
        "/section_e/email",
        "email",
    ),
    "email without @": (
        "feedback",
        _set("/section_c/contact_email", "tco.example.com"),
        "/section_c/contact_email",
        "email",
    ),
    "telephone not E.164": (
        "removal_order",
        _set("/section_e/telephone", "0611 55-0"),
        "/section_e/telephone",
        "pattern",
    ),
    "message_id not a uuid": (
        "withdrawal",
        _set("/message_id", "withdrawal-1"),
        "/message_id",
        "pattern",
    ),
    "message_id in upper case": (
        "withdrawal",
        _set("/message_id", "C5E9A3D7-1F64-4B28-8E0A-7D2C6B9F4E13"),
        "/message_id",
        "pattern",
    ),
    "upper-case participant id": (
        "acknowledgement",
        _set("/sender", "HSP-Alpha"),
        "/sender",
        "pattern",
    ),
    "language not ISO 639-1": ("removal_order", _set("/language", "eng"), "/language", "pattern"),
    "duration not ISO 8601": (
        "removal_order",
        _set("/section_g/appeal_deadline/duration", "one month"),
        "/section_g/appeal_deadline/duration",
        "pattern",
    ),
    "order_sha256 not hex": (
        "acknowledgement",
        _set("/order_sha256", "A" * 64),
        "/order_sha256",
        "pattern",
    ),
    "wrong message_type": (
        "feedback",
        _set("/message_type", "removal_order"),
        "/message_type",
        '"feedback"',
    ),
    "boolean as string": (
        "removal_order",
        _set("/section_c/nondisclosure", "yes"),
        "/section_c/nondisclosure",
        "boolean",
    ),
    "additional top-level member": (
        "removal_order",
        _set("/priority", "high"),
        "/priority",
        "not allowed",
    ),
    "additional member in a section": (
        "removal_order",
        _set("/section_b/colour", "red"),
        "/section_b/colour",
        "not allowed",
    ),
    "additional member in a content item": (
        "removal_order",
        _set("/section_b/content/0/title", "x"),
        "/section_b/content/0/title",
        "not allowed",
    ),
    "additional member in Annex III": (
        "impossibility",
        _set("/section_c/phone", "+35312345678"),
        "/section_c/phone",
        "not allowed",
    ),
    "pointer escaping": ("withdrawal", _set("/a~1b", 1), "/a~1b", "not allowed"),
    "insufficient information without clarification_required": (
        "impossibility_insufficient",
        _delete("/section_b/clarification_required"),
        "/section_b/clarification_required",
        "is required",
    ),
    "manifest errors without clarification_required": (
        "impossibility",
        _set("/section_b/reasons", ["force_majeure", "manifest_errors"]),
        "/section_b/clarification_required",
        "is required",
    ),
    "both HSP and representative named": (
        "feedback",
        _set("/section_c/legal_representative_name", "Byrne & Co, solicitors"),
        "/section_c",
        "exactly one of 'hsp_name', 'legal_representative_name'",
    ),
    "neither HSP nor representative named": (
        "impossibility_insufficient",
        _delete("/section_c/legal_representative_name"),
        "/section_c",
        "exactly one of",
    ),
    "amended content without url": (
        "clarification",
        _delete("/amended_content/0/url"),
        "/amended_content/0/url",
        "is required",
    ),
    "receipt for a broker type": (
        "receipt",
        _set("/message_type", "receipt"),
        "/message_type",
        "removal_order",
    ),
    "unknown event kind": ("event", _set("/kind", "order_lost"), "/kind", "deadline_missed"),
    "order state": ("order_view", _set("/state", "impossible_overdue"), "/state", "withdrawn"),
    "deadline neither time nor null": (
        "order_view",
        _set("/deadline_at", 0),
        "/deadline_at",
        "string or null",
    ),
    "private key in the directory": (
        "participant_view",
        _set("/keys/0/jwk/d", "c2VjcmV0"),
        "/keys/0/jwk",
        "must not contain 'd'",
    ),
    "reference number too long": (
        "removal_order",
        _set("/section_a/reference_number", "R" * 201),
        "/section_a/reference_number",
        "at most 200 characters",
    ),
    "seq below one": ("receipt", _set("/seq", 0), "/seq", "at least 1"),
    "problem without code": ("problem", _delete("/code"), "/code", "is required"),
}


class TestInvalidDocuments:
    """Invalid documents are refused, naming exactly the offending member."""

    @pytest.mark.parametrize("case", INVALID)
    def test_refused_on_the_right_field(self, case: str) -> None:
        """The violation is reported once, on the member at fault."""
        example, mutate, field, fragment = INVALID[case]
        document = copy.deepcopy(load_example(example))
        validate(schema_of(example), document)  # the starting point is valid
        mutate(document)
        errors = violations(schema_of(example), document)
        assert [e.field for e in errors] == [field]
        assert fragment in errors[0].message

    def test_force_majeure_alone_needs_no_clarification(self) -> None:
        """R6: a force-majeure notice without clarification_required is valid."""
        notice = load_example("impossibility")
        assert notice["section_b"]["reasons"] == ["force_majeure"]
        assert "clarification_required" not in notice["section_b"]
        validate("impossibility", notice)

    def test_every_error_is_reported_sorted(self) -> None:
        """All violations come back at once, sorted by field."""
        order = load_example("removal_order")
        order["sent_at"] = "yesterday"
        order["section_b"]["reasons"] = ["z"]
        order["section_b"]["content"][0]["url"] = "not a url"
        order["section_e"]["email"] = "bka"
        order["extra"] = True
        del order["section_a"]["reference_number"]
        errors = violations("removal_order", order)
        assert [e.field for e in errors] == [
            "/extra",
            "/section_a/reference_number",
            "/section_b/content/0/url",
            "/section_b/reasons/0",
            "/section_e/email",
            "/sent_at",
        ]
        assert errors == sorted(errors)

    def test_messages_do_not_echo_large_values(self) -> None:
        """A violation's message stays short whatever the offending value."""
        order = load_example("removal_order")
        order["section_a"]["reference_number"] = {"huge": "x" * 10_000}
        (error,) = violations("removal_order", order)
        assert error == FieldError("/section_a/reference_number", "must be of type string")

    def test_violation_summary(self) -> None:
        """str(SchemaViolation) names the first fields and counts the rest."""
        exc = SchemaViolation([FieldError(f"/f{i}", "bad") for i in range(5)])
        assert str(exc) == (
            "the document does not match its schema: /f0: bad; /f1: bad; /f2: bad (and 2 more)"
        )

    def test_document_must_be_an_object(self) -> None:
        """A JSON array is refused at the root."""
        assert violations("removal_order", []) == [FieldError("", "must be of type object")]


class TestValidateMessage:
    """validate_message dispatches on message_type."""

    @pytest.mark.parametrize(
        ("document", "message"),
        [
            ({"message_id": "x"}, "is required"),
            ({"message_type": "receipt"}, "must be one of"),
            ({"message_type": "takedown_notice"}, "must be one of"),
            ({"message_type": ["removal_order"]}, "must be one of"),
        ],
    )
    def test_unknown_or_missing_type(self, document: dict[str, Any], message: str) -> None:
        """A missing, broker-only or unknown type is reported on /message_type."""
        with pytest.raises(SchemaViolation) as info:
            validate_message(document)
        ((field, text),) = [(e.field, e.message) for e in info.value.errors]
        assert field == "/message_type"
        assert message in text

    def test_not_an_object(self) -> None:
        """A document that is not an object is refused at the root."""
        with pytest.raises(SchemaViolation) as info:
            validate_message("removal_order")
        assert info.value.errors == [FieldError("", "must be a JSON object")]

    def test_validates_against_the_named_schema(self) -> None:
        """A feedback with an order's members is checked as a feedback."""
        document = load_example("feedback")
        document["section_g"] = {}
        with pytest.raises(SchemaViolation) as info:
            validate_message(document)
        assert [e.field for e in info.value.errors] == ["/section_g"]


HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def openapi() -> dict[str, Any]:
    document = yaml.safe_load(PACKAGE.joinpath("openapi.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def api_md_routes() -> set[tuple[str, str]]:
    text = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
    section = text.split("## Routes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (GET|PUT|POST|DELETE|PATCH) \| `([^`]+)` \|", section, re.MULTILINE)
    return {(method.lower(), path) for method, path in rows}


class TestOpenAPI:
    """openapi.yaml describes exactly the routes of docs/API.md."""

    def test_parses_as_openapi_3_1(self) -> None:
        """The file is YAML declaring OpenAPI 3.1 and the draft 2020-12 dialect."""
        document = openapi()
        assert document["openapi"].startswith("3.1.")
        assert document["jsonSchemaDialect"] == "https://json-schema.org/draft/2020-12/schema"

    def test_every_ref_resolves(self) -> None:
        """Internal refs point into the document; others name a shipped schema by $id."""
        document = openapi()
        ids = {f"{ID_BASE}{name}.schema.json": name for name in ALL_SCHEMAS}
        refs = [
            node["$ref"] for _, node in walk(document) if isinstance(node, dict) and "$ref" in node
        ]
        assert len(refs) > 50
        for ref in refs:
            target, _, fragment = ref.partition("#")
            base = document if not target else load_schema(ids[target])
            assert resolve_pointer(base, fragment) is not None, ref
        # The drill scenario (issue 4) is a file format, not part of the HTTP API.
        api_schemas = set(ALL_SCHEMAS) - {"scenario"}
        assert {ids[r.partition("#")[0]] for r in refs if not r.startswith("#")} == api_schemas

    def test_routes_match_api_md(self) -> None:
        """Every route of the API.md table is documented, and nothing else."""
        expected = api_md_routes()
        assert len(expected) >= 20  # issue 2; issue 3 adds more
        documented = {
            (method, path)
            for path, item in openapi()["paths"].items()
            for method in item
            if method in HTTP_METHODS
        }
        assert documented == expected

    def test_public_routes_are_exactly_the_unauthenticated_ones(self) -> None:
        """Only health, clock and jwks opt out of the bearer scheme."""
        document = openapi()
        assert document["security"] == [{"bearerAuth": []}]
        scheme = document["components"]["securitySchemes"]["bearerAuth"]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
        public = {
            path
            for path, item in document["paths"].items()
            for method, operation in item.items()
            if method in HTTP_METHODS and operation.get("security") == []
        }
        assert public == {"/v1/health", "/v1/clock", "/v1/broker/jwks"}

    def test_document_routes_take_a_jws(self) -> None:
        """Every POST takes {jws} and answers 201 with a receipt, 200 on replay.

        The exceptions: a drill facilitator's clock skip and inject report (no document, no
        receipt), and the batch routes (test_batch_routes_take_documents).
        """
        document = openapi()
        posts = {
            path: item["post"]
            for path, item in document["paths"].items()
            if "post" in item
            and path not in ("/v1/clock/advance", "/v1/drill/injects")
            and not path.endswith("/batch")
        }
        assert len(posts) >= 8
        body = resolve_pointer(document, "/components/requestBodies/SignedDocument")
        jws_schema = body["content"]["application/json"]["schema"]
        assert resolve_pointer(document, jws_schema["$ref"].lstrip("#"))["required"] == ["jws"]
        for path, operation in posts.items():
            assert operation["requestBody"] == {"$ref": "#/components/requestBodies/SignedDocument"}
            assert {"200", "201", "400", "401", "403", "409", "413", "422"} <= set(
                operation["responses"]
            ), path
            answer = operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
            assert "receipt" in resolve_pointer(document, answer.lstrip("#"))["required"], path

    def test_batch_routes_take_documents(self) -> None:
        """A batch POST takes {documents: [JWS]} and answers 200 with one result per item."""
        document = openapi()
        batches = {p: i["post"] for p, i in document["paths"].items() if p.endswith("/batch")}
        assert set(batches) == {"/v1/referrals/batch", "/v1/referral-outcomes/batch"}
        for path, operation in batches.items():
            assert operation["requestBody"] == {"$ref": "#/components/requestBodies/DocumentBatch"}
            assert {"200", "400", "401", "403", "413", "422"} <= set(operation["responses"]), path
            answer = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
            assert resolve_pointer(document, answer.lstrip("#")) == {
                "$ref": f"{ID_BASE}referral_batch_result.schema.json"
            }
        body = resolve_pointer(document, "/components/requestBodies/DocumentBatch")
        schema = body["content"]["application/json"]["schema"]["$ref"]
        assert resolve_pointer(document, schema.lstrip("#")) == {
            "$ref": f"{ID_BASE}document_batch.schema.json"
        }
        assert load_schema("document_batch")["properties"]["documents"]["maxItems"] == 500

    def test_order_routes_take_the_order_id(self) -> None:
        """Routes under /v1/orders/{order_id} declare the path parameter and 404."""
        document = openapi()
        order_paths = [p for p in document["paths"] if "{order_id}" in p]
        assert len(order_paths) >= 8  # issue 2; issue 3 adds the lifecycle documents
        for path in order_paths:
            item = document["paths"][path]
            assert item["parameters"] == [{"$ref": "#/components/parameters/OrderId"}]
            for method in HTTP_METHODS & set(item):
                assert "404" in item[method]["responses"], path
        assert resolve_pointer(document, "/components/parameters/OrderId")["in"] == "path"

    def test_errors_are_problem_json(self) -> None:
        """Every 4xx answer is application/problem+json with the problem schema."""
        document = openapi()
        problem = {"$ref": f"{ID_BASE}problem.schema.json"}
        seen = 0
        for path, item in document["paths"].items():
            for method in HTTP_METHODS & set(item):
                for status, response in item[method]["responses"].items():
                    if not status.startswith("4"):
                        continue
                    resolved = resolve_pointer(document, response["$ref"].lstrip("#"))
                    schema_ref = resolved["content"]["application/problem+json"]["schema"]["$ref"]
                    assert resolve_pointer(document, schema_ref.lstrip("#")) == problem, path
                    seen += 1
        assert seen > 40

    def test_error_codes_of_api_md_are_documented(self) -> None:
        """Each problem code API.md lists appears in the OpenAPI error descriptions."""
        text = (ROOT / "docs" / "API.md").read_text(encoding="utf-8")
        codes = set(re.findall(r"`([a-z_]+)` (?:4\d\d)", text))
        assert {"unauthenticated", "schema_violation", "receipt_time_mismatch"} <= codes
        responses = json.dumps(openapi()["components"]["responses"])
        for code in codes:
            assert f"`{code}`" in responses, code

    def test_feed_is_a_websocket_upgrade(self) -> None:
        """/v1/feed is documented as GET answering 101 Switching Protocols."""
        feed = openapi()["paths"]["/v1/feed"]
        assert set(feed) == {"get"}
        assert "101" in feed["get"]["responses"]
        assert feed["get"]["x-websocket-messages"]["server"] == {
            "$ref": "#/components/schemas/FeedMessage"
        }


class TestPackaging:
    """The schemas load from a zipped install, not only from the checkout."""

    def test_loads_from_a_zip_built_from_package_data(self, tmp_path: Path) -> None:
        """A zip holding the modules and pyproject's package-data globs validates every example."""
        config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        source = Path(str(PACKAGE))
        globs = ["*.py", *config["tool"]["setuptools"]["package-data"]["perci_schemas"]]
        archive = tmp_path / "perci_schemas.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for pattern in globs:
                for file in source.glob(pattern):
                    zf.write(file, f"perci_schemas/{file.relative_to(source).as_posix()}")
        code = (
            "import perci_schemas as p\n"
            "assert '.zip' in p.__file__, p.__file__\n"
            f"for name in {EXAMPLE_NAMES!r}:\n"
            f"    p.validate({EXAMPLE_SCHEMA!r}.get(name, name), p.load_example(name))\n"
            "print(len(p.SCHEMA_NAMES))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env={"PYTHONPATH": str(archive)},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(len(SCHEMA_NAMES))
