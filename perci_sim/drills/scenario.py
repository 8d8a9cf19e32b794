"""Drill scenarios: YAML files with a JSON Schema, parsed into frozen dataclasses.

A scenario names the parties (authorities by Member State, hosting providers
with their main establishment, languages and a behaviour profile), a timeline of
injects at simulated offsets from T+0, a clock speed and a random seed.  The
format is documented in ``docs/DRILLS.md``; the schema is
``schemas/json/scenario.schema.json`` (``perci_schemas.validation``, name
``"scenario"``).

Every error names the place in the file: :class:`ScenarioError` lists
``file:line:col: what is expected`` for each problem found, from the YAML
parser, from the schema (the JSON pointer of each ``jsonschema`` error is mapped
back to the YAML node's mark) and from the checks the schema cannot express
(unknown parties, a withdrawal of an order that is never issued, ...).
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError  # type: ignore[import-untyped]

from perci_schemas.validation import load_schema
from perci_sim.domain.member_states import MEMBER_STATES, OFFICIAL_LANGUAGES

__all__ = [
    "ANNEX_III_REASONS",
    "Authority",
    "Delay",
    "Hsp",
    "Inject",
    "Profile",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
]

#: Annex III B(1) reasons a simulated HSP can give.
ANNEX_III_REASONS: Final = ("insufficient_information", "manifest_errors", "force_majeure")
#: The one hour of Art. 3(3), in minutes.
HOUR_MIN: Final = 60.0

_DEFAULT_SPEED: Final = 3600.0
_Z95: Final = 1.6448536269514722  # standard normal 95th percentile


class ScenarioError(ValueError):
    """A scenario file that cannot be used; ``problems`` are ``file:line:col: message``."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid scenario:\n  " + "\n  ".join(self.problems))


# --- the model -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Delay:
    """A random delay in simulated minutes.

    ``kind`` is ``fixed`` (``a``), ``uniform`` (``a``..``b``), ``triangular``
    (``a``..``b``, mode ``c``) or ``lognormal`` (median ``a``, 95th percentile ``b``).
    """

    kind: str
    a: float
    b: float = 0.0
    c: float = 0.0

    def draw(self, rng: random.Random) -> float:
        """One value in minutes (never negative)."""
        if self.kind == "fixed":
            return self.a
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        if self.kind == "triangular":
            return rng.triangular(self.a, self.b, self.c)
        sigma = math.log(self.b / self.a) / _Z95
        return max(0.0, rng.lognormvariate(math.log(self.a), sigma))


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """How a simulated HSP behaves (all delays in simulated minutes)."""

    time_to_removal: Delay = Delay(kind="triangular", a=5.0, b=50.0, c=15.0)
    late: float = 0.0
    late_delay: Delay = Delay(kind="uniform", a=70.0, b=150.0)
    missing: float = 0.0
    ack_share: float = 1.0
    ack_delay: Delay = Delay(kind="uniform", a=0.5, b=5.0)
    annex_iii_share: float = 0.0
    annex_iii_reasons: tuple[tuple[str, float], ...] = (("insufficient_information", 1.0),)
    annex_iii_delay: Delay = Delay(kind="uniform", a=5.0, b=20.0)
    grounds_ceased_after: Delay = Delay(kind="uniform", a=10.0, b=40.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class Authority:
    """A competent authority of a Member State."""

    id: str
    name: str
    member_state: str
    languages: tuple[str, ...]
    live: bool = False
    clarification_delay: Delay = Delay(kind="uniform", a=5.0, b=20.0)
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Hsp:
    """A hosting service provider and its behaviour."""

    id: str
    name: str
    main_establishment: str
    languages: tuple[str, ...]
    live: bool = False
    channel: str = "feed"
    poll_interval_min: float = 1.0
    profile: Profile = field(default_factory=Profile)
    line: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Inject:
    """One entry of the timeline at ``at_s`` simulated seconds after T+0.

    ``kind`` is ``wave``, ``order``, ``offline``, ``online``, ``withdraw``,
    ``advance_information`` or ``note``; the other members apply to some kinds.
    """

    kind: str
    at_s: float
    line: int
    note: str = ""
    id: str = ""
    senders: tuple[str, ...] = ()
    recipients: tuple[str, ...] = ()
    orders: int = 0
    over_s: float = 0.0
    emergency: bool = False
    annex_iii: str | None = None
    hsp: str = ""
    for_s: float | None = None
    order: str = ""
    reason: str = ""

    def describe(self) -> str:
        """One line for the timeline of the report."""
        if self.kind == "wave":
            kind = "emergency orders" if self.emergency else "orders"
            text = (
                f"wave {self.id}: {self.orders} {kind} from {', '.join(self.senders)} "
                f"to {', '.join(self.recipients)}"
            )
        elif self.kind == "order":
            extra = " (emergency)" if self.emergency else ""
            extra += f" (Annex III: {self.annex_iii})" if self.annex_iii else ""
            text = f"order {self.id}: {self.senders[0]} → {self.recipients[0]}{extra}"
        elif self.kind == "offline":
            span = f" for {self.for_s / 60:g} min" if self.for_s is not None else ""
            text = f"{self.hsp} offline{span}"
        elif self.kind == "online":
            text = f"{self.hsp} back online"
        elif self.kind == "withdraw":
            text = f"withdrawal of {self.order}"
        elif self.kind == "advance_information":
            text = f"advance information {self.senders[0]} → {', '.join(self.recipients)}"
        else:
            text = self.note
        if self.note and self.kind != "note":
            text += f" — {self.note}"
        return text


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A parsed, checked drill scenario."""

    name: str
    description: str
    speed: float
    seed: int
    duration_s: float | None
    advance_information: tuple[tuple[str, str], ...]
    authorities: tuple[Authority, ...]
    hsps: tuple[Hsp, ...]
    injects: tuple[Inject, ...]
    source: str = "<scenario>"

    @property
    def parties(self) -> tuple[Authority | Hsp, ...]:
        """Every party, authorities first."""
        return (*self.authorities, *self.hsps)

    def authority(self, party_id: str) -> Authority:
        """The authority ``party_id``."""
        return next(a for a in self.authorities if a.id == party_id)

    def hsp(self, party_id: str) -> Hsp:
        """The HSP ``party_id``."""
        return next(h for h in self.hsps if h.id == party_id)

    def order_keys(self) -> list[str]:
        """Every order the timeline issues, by key (``ID`` or ``WAVE-NNN``), in timeline order."""
        keys: list[str] = []
        for inject in self.injects:
            if inject.kind == "order":
                keys.append(inject.id)
            elif inject.kind == "wave":
                keys.extend(f"{inject.id}-{i:03d}" for i in range(1, inject.orders + 1))
        return keys

    def offline_windows(self, hsp_id: str) -> list[tuple[float, float]]:
        """The ``[start, end)`` offsets (seconds) during which ``hsp_id`` is offline."""
        windows: list[tuple[float, float]] = []
        start: float | None = None
        for inject in self.injects:
            if inject.hsp != hsp_id:
                continue
            if inject.kind == "offline":
                if inject.for_s is not None:
                    windows.append((inject.at_s, inject.at_s + inject.for_s))
                else:
                    start = inject.at_s
            elif inject.kind == "online" and start is not None:
                windows.append((start, inject.at_s))
                start = None
        if start is not None:
            windows.append((start, math.inf))
        return sorted(windows)


# --- YAML with marks -----------------------------------------------------------------------------


class _Marks:
    """Line and column (1-based) of every node of a composed YAML document, by path."""

    def __init__(self, root: yaml.Node | None) -> None:
        self.root = root

    def _node(self, path: Iterable[object]) -> tuple[yaml.Node | None, yaml.Node | None]:
        node = self.root
        key_node: yaml.Node | None = None
        for part in path:
            if isinstance(node, yaml.MappingNode):
                found = next(
                    ((k, v) for k, v in node.value if getattr(k, "value", None) == str(part)),
                    None,
                )
                if found is None:
                    return node, key_node
                key_node, node = found
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if part >= len(node.value):
                    return node, key_node
                key_node, node = None, node.value[part]
            else:
                return node, key_node
        return node, key_node

    def at(self, path: Iterable[object], *, key: str | None = None) -> tuple[int, int]:
        """``(line, column)`` of the node at ``path`` (of its member ``key`` when given)."""
        node, _ = self._node(path)
        if key is not None and isinstance(node, yaml.MappingNode):
            for k, _v in node.value:
                if getattr(k, "value", None) == key:
                    return k.start_mark.line + 1, k.start_mark.column + 1
        if node is None:
            return 1, 1
        return node.start_mark.line + 1, node.start_mark.column + 1


def _pointer(path: Iterable[object]) -> str:
    return "".join(f"/{p}" for p in path) or "/"


_EXTRA = re.compile(r"\('([^']+)' was unexpected\)|'([^']+)' (?:was|were) unexpected")


def _schema_problem(error: ValidationError, marks: _Marks, source: str) -> str:
    path = list(error.absolute_path)
    key: str | None = None
    validator = error.validator
    if validator == "additionalProperties":
        match = _EXTRA.search(error.message)
        key = (match.group(1) or match.group(2)) if match else None
        where = _pointer([*path, key]) if key else _pointer(path)
        message = f"{where}: unexpected member {key!r}" if key else f"{where}: {error.message}"
        if isinstance(error.schema, Mapping) and isinstance(error.schema.get("properties"), dict):
            allowed = ", ".join(sorted(error.schema["properties"]))
            message += f"; expected one of: {allowed}"
    elif validator == "required":
        missing = str(error.message).split("'")[1] if "'" in error.message else "?"
        message = f"{_pointer(path)}: missing required member {missing!r}"
    elif validator in ("oneOf", "anyOf") and isinstance(error.schema, Mapping):
        described = error.schema.get("description")
        message = f"{_pointer(path)}: expected {described or 'a different value'}"
        message += f", got {error.instance!r}"
    elif validator == "enum":
        options = ", ".join(repr(v) for v in error.validator_value)
        message = f"{_pointer(path)}: expected one of {options}, got {error.instance!r}"
    elif validator == "pattern":
        described = error.schema.get("description") if isinstance(error.schema, Mapping) else None
        expected = described or f"a string matching {error.validator_value}"
        message = f"{_pointer(path)}: expected {expected}, got {error.instance!r}"
    elif validator == "type":
        message = f"{_pointer(path)}: expected {error.validator_value}, got {error.instance!r}"
    else:
        message = f"{_pointer(path)}: {error.message}"
    line, col = marks.at(path, key=key)
    return f"{source}:{line}:{col}: {message}"


# --- parsing -------------------------------------------------------------------------------------


def _seconds(value: object) -> float:
    """Seconds of ``"T+HH:MM[:SS]"``, ``"HH:MM[:SS]"`` or a number (schema-checked)."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).removeprefix("T+")
    parts = [int(p) for p in text.split(":")]
    hours, minutes = parts[0], parts[1]
    seconds = parts[2] if len(parts) == 3 else 0
    return float(hours * 3600 + minutes * 60 + seconds)


class _Parser:
    """Turns a schema-valid document into a :class:`Scenario`, collecting semantic problems."""

    def __init__(self, data: Mapping[str, Any], marks: _Marks, source: str) -> None:
        self.data = data
        self.marks = marks
        self.source = source
        self.problems: list[str] = []

    def problem(self, path: Sequence[object], message: str, *, key: str | None = None) -> None:
        line, col = self.marks.at(path, key=key)
        where = _pointer([*path, key] if key else path)
        self.problems.append(f"{self.source}:{line}:{col}: {where}: {message}")

    def delay(self, value: object, path: Sequence[object], default: Delay) -> Delay:
        if value is None:
            return default
        if isinstance(value, int | float):
            return Delay(kind="fixed", a=float(value))
        spec = dict(value) if isinstance(value, Mapping) else {}
        keys = set(spec)
        if keys == {"median", "p95"}:
            if spec["p95"] <= spec["median"]:
                self.problem(path, "expected p95 greater than median", key="p95")
                return default
            return Delay(kind="lognormal", a=float(spec["median"]), b=float(spec["p95"]))
        if keys in ({"min", "max"}, {"min", "max", "mode"}):
            low, high = float(spec["min"]), float(spec["max"])
            if high < low:
                self.problem(path, "expected max not less than min", key="max")
                return default
            if "mode" in spec:
                mode = float(spec["mode"])
                if not low <= mode <= high:
                    self.problem(path, "expected min <= mode <= max", key="mode")
                    return default
                return Delay(kind="triangular", a=low, b=high, c=mode)
            return Delay(kind="uniform", a=low, b=high)
        self.problem(
            path,
            "expected a delay in minutes: a number, {min, max}, {min, mode, max} or {median, p95}",
        )
        return default

    def languages(
        self, value: object, member_state: str, path: Sequence[object]
    ) -> tuple[str, ...]:
        if isinstance(value, list):
            return tuple(str(v) for v in value)
        official = sorted(OFFICIAL_LANGUAGES.get(member_state, frozenset()))
        return tuple(dict.fromkeys([*official, "en"]))

    def member_state(self, value: str, path: Sequence[object], key: str) -> None:
        if value not in MEMBER_STATES:
            self.problem(path, f"expected an EU Member State code, got {value!r}", key=key)

    def profile(self, value: Mapping[str, Any] | None, path: list[object]) -> Profile:
        base = Profile()
        if not value:
            return base
        ack = value.get("acknowledge") or {}
        annex = value.get("annex_iii") or {}
        reasons = annex.get("reasons")
        weights = (
            tuple((k, float(v)) for k, v in reasons.items()) if reasons else base.annex_iii_reasons
        )
        if reasons is not None and sum(w for _, w in weights) <= 0:
            self.problem(
                [*path, "annex_iii"], "expected at least one positive weight", key="reasons"
            )
        late, missing = float(value.get("late", 0.0)), float(value.get("missing", 0.0))
        share = float(annex.get("share", 0.0))
        if late + missing + share > 1.0:
            self.problem(path, "expected late + missing + annex_iii.share to be at most 1")
        return Profile(
            time_to_removal=self.delay(
                value.get("time_to_removal"), [*path, "time_to_removal"], base.time_to_removal
            ),
            late=late,
            late_delay=self.delay(value.get("late_delay"), [*path, "late_delay"], base.late_delay),
            missing=missing,
            ack_share=float(ack.get("share", base.ack_share)),
            ack_delay=self.delay(ack.get("delay"), [*path, "acknowledge", "delay"], base.ack_delay),
            annex_iii_share=share,
            annex_iii_reasons=weights,
            annex_iii_delay=self.delay(
                annex.get("delay"), [*path, "annex_iii", "delay"], base.annex_iii_delay
            ),
            grounds_ceased_after=self.delay(
                annex.get("grounds_ceased_after"),
                [*path, "annex_iii", "grounds_ceased_after"],
                base.grounds_ceased_after,
            ),
        )

    def parse(self) -> Scenario:
        data = self.data
        authorities: list[Authority] = []
        for i, raw in enumerate(data["authorities"]):
            path: list[object] = ["authorities", i]
            self.member_state(raw["member_state"], path, "member_state")
            authorities.append(
                Authority(
                    id=raw["id"],
                    name=raw.get("name", raw["id"]),
                    member_state=raw["member_state"],
                    languages=self.languages(raw.get("languages"), raw["member_state"], path),
                    live=bool(raw.get("live", False)),
                    clarification_delay=self.delay(
                        raw.get("clarification_delay"),
                        [*path, "clarification_delay"],
                        Authority.__dataclass_fields__["clarification_delay"].default,  # type: ignore[arg-type]
                    ),
                    line=self.marks.at(path)[0],
                )
            )
        hsps: list[Hsp] = []
        for i, raw in enumerate(data["hsps"]):
            path = ["hsps", i]
            ms = raw["main_establishment"]
            self.member_state(ms, path, "main_establishment")
            languages = self.languages(raw.get("languages"), ms, path)
            if ms in OFFICIAL_LANGUAGES and not OFFICIAL_LANGUAGES[ms] & set(languages):
                self.problem(
                    path,
                    f"expected at least one official language of {ms} "
                    f"({', '.join(sorted(OFFICIAL_LANGUAGES[ms]))}) (Art. 15(2), R5)",
                    key="languages",
                )
            hsps.append(
                Hsp(
                    id=raw["id"],
                    name=raw.get("name", raw["id"]),
                    main_establishment=ms,
                    languages=languages,
                    live=bool(raw.get("live", False)),
                    channel=raw.get("channel", "feed"),
                    poll_interval_min=float(raw.get("poll_interval", 1.0)),
                    profile=self.profile(raw.get("profile"), [*path, "profile"]),
                    line=self.marks.at(path)[0],
                )
            )
        seen: dict[str, str] = {}
        groups: tuple[tuple[str, Sequence[Authority | Hsp]], ...] = (
            ("authorities", authorities),
            ("hsps", hsps),
        )
        for group, parties in groups:
            for i, party in enumerate(parties):
                if party.id in seen:
                    self.problem(
                        [group, i], f"expected a unique id; {party.id!r} is taken", key="id"
                    )
                seen[party.id] = group
        authority_ids = {a.id for a in authorities}
        hsp_ids = {h.id for h in hsps}

        def need(ids: Iterable[str], role: str, path: list[object], key: str) -> None:
            pool = authority_ids if role == "authority" else hsp_ids
            for party_id in ids:
                if party_id not in pool:
                    known = ", ".join(sorted(pool))
                    self.problem(
                        path,
                        f"expected an {role} of the scenario ({known}), got {party_id!r}",
                        key=key,
                    )

        advance: list[tuple[str, str]] = []
        raw_advance = data.get("advance_information")
        if raw_advance == "all":
            advance = [(a.id, h.id) for a in authorities for h in hsps if not a.live]
        elif isinstance(raw_advance, list):
            for i, pair in enumerate(raw_advance):
                need([pair["from"]], "authority", ["advance_information", i], "from")
                need(pair["to"], "hsp", ["advance_information", i], "to")
                advance.extend((pair["from"], to) for to in pair["to"])

        injects: list[Inject] = []
        keys: set[str] = set()
        for i, raw in enumerate(data["injects"]):
            path = ["injects", i]
            inject = self.inject(raw, path, need)
            injects.append(inject)
            if inject.kind in ("wave", "order"):
                if inject.id in keys:
                    self.problem(
                        path, f"expected a unique order ref; {inject.id!r} is taken", key="ref"
                    )
                keys.add(inject.id)
        order_keys: set[str] = set()
        for inject in injects:
            if inject.kind == "order":
                order_keys.add(inject.id)
            elif inject.kind == "wave":
                order_keys.update(f"{inject.id}-{n:03d}" for n in range(1, inject.orders + 1))
        for i, inject in enumerate(injects):
            if inject.kind == "withdraw" and inject.order not in order_keys:
                self.problem(
                    ["injects", i],
                    "expected the ref of an order inject or REF-NNN of a wave "
                    f"(e.g. w1-001), got {inject.order!r}",
                    key="order",
                )
        duration = data.get("duration")
        everyone: list[Authority | Hsp] = [*authorities, *hsps]
        live = [p.id for p in everyone if p.live]
        if live and duration is None:
            self.problem([], f"expected a duration: live parties ({', '.join(live)}) take part")
        return Scenario(
            name=data["name"],
            description=data.get("description", ""),
            speed=float(data.get("speed", _DEFAULT_SPEED)),
            seed=int(data.get("seed", 0)),
            duration_s=_seconds(duration) if duration is not None else None,
            advance_information=tuple(advance),
            authorities=tuple(authorities),
            hsps=tuple(hsps),
            injects=tuple(sorted(injects, key=lambda x: x.at_s)),
            source=self.source,
        )

    def inject(self, raw: Mapping[str, Any], path: list[object], need: Any) -> Inject:
        kind = raw["do"]
        common: dict[str, Any] = {
            "kind": kind,
            "at_s": _seconds(raw["at"]),
            "line": self.marks.at(path)[0],
            "note": raw.get("note", ""),
        }
        if kind == "wave":
            need(raw["from"], "authority", path, "from")
            need(raw["to"], "hsp", path, "to")
            return Inject(
                **common,
                id=raw["ref"],
                senders=tuple(raw["from"]),
                recipients=tuple(raw["to"]),
                orders=int(raw["orders"]),
                over_s=_seconds(raw.get("over", 0)),
                emergency=bool(raw.get("emergency", False)),
            )
        if kind == "order":
            need([raw["from"]], "authority", path, "from")
            need([raw["to"]], "hsp", path, "to")
            return Inject(
                **common,
                id=raw["ref"],
                senders=(raw["from"],),
                recipients=(raw["to"],),
                orders=1,
                emergency=bool(raw.get("emergency", False)),
                annex_iii=raw.get("annex_iii"),
            )
        if kind in ("offline", "online"):
            need([raw["hsp"]], "hsp", path, "hsp")
            return Inject(
                **common,
                hsp=raw["hsp"],
                for_s=_seconds(raw["for"]) if "for" in raw else None,
            )
        if kind == "withdraw":
            return Inject(
                **common, order=raw["order"], reason=raw.get("reason", "Withdrawn in the drill.")
            )
        if kind == "advance_information":
            need([raw["from"]], "authority", path, "from")
            need(raw["to"], "hsp", path, "to")
            return Inject(**common, senders=(raw["from"],), recipients=tuple(raw["to"]))
        return Inject(**common)


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse and check a scenario given as YAML text.

    Raises:
        ScenarioError: with ``source:line:col: what is expected`` for every problem.
    """
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ScenarioError(
            [f"{source}:{line}:{col}: expected valid YAML: {exc.problem or exc}"]
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError([f"{source}:1:1: expected valid YAML: {exc}"]) from None
    marks = _Marks(root)
    if not isinstance(data, dict):
        raise ScenarioError([f"{source}:1:1: /: expected a mapping (name, authorities, ...)"])
    validator = Draft202012Validator(load_schema("scenario"))
    errors = sorted(
        validator.iter_errors(data), key=lambda e: (marks.at(list(e.absolute_path)), e.message)
    )
    if errors:
        problems = list(dict.fromkeys(_schema_problem(e, marks, source) for e in errors))
        raise ScenarioError(problems)
    parser = _Parser(data, marks, source)
    scenario = parser.parse()
    if parser.problems:
        raise ScenarioError(parser.problems)
    return scenario


def load_scenario(path: str | Path) -> Scenario:
    """Read and check the scenario file ``path``.

    Raises:
        ScenarioError: the file is invalid (every problem with its line and column).
        OSError: the file cannot be read.
    """
    path = Path(path)
    return parse_scenario(path.read_text(encoding="utf-8"), source=str(path))
