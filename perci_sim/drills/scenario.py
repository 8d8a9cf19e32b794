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

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Final

import yaml
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]

from perci_schemas.validation import load_schema
from perci_sim.domain.member_states import MEMBER_STATES, OFFICIAL_LANGUAGES
from perci_sim.drills.scenario_errors import Marks, ScenarioError, pointer, schema_problem
from perci_sim.drills.scenario_model import (
    ANNEX_III_REASONS,
    EUROPOL,
    HOUR_MIN,
    OWN_SCRUTINY_S,
    SKIP_IDLE_THRESHOLD_S,
    Authority,
    Delay,
    Hsp,
    Inject,
    Profile,
    ReferralProfile,
    Scenario,
    referral_key,
    referral_plan,
)

__all__ = [
    "ANNEX_III_REASONS",
    "EUROPOL",
    "HOUR_MIN",
    "SKIP_IDLE_THRESHOLD_S",
    "Authority",
    "Delay",
    "Hsp",
    "Inject",
    "Profile",
    "ReferralProfile",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
    "referral_key",
    "referral_plan",
]

_DEFAULT_SPEED: Final = 3600.0


# --- parsing -------------------------------------------------------------------------------------


_TIME = re.compile(r"^(?:T\+)?(?:(\d+)d ?)?(\d{1,4}):(\d\d)(?::(\d\d))?$")


def _seconds(value: object) -> float:
    """Seconds of ``"T+[Nd ]HH:MM[:SS]"``, ``"[Nd ]HH:MM[:SS]"`` or a number (schema-checked)."""
    if isinstance(value, int | float):
        return float(value)
    match = _TIME.match(str(value))
    if match is None:  # pragma: no cover - the schema's pattern
        raise ValueError(f"not a time: {value!r}")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return float(((days * 24 + hours) * 60 + minutes) * 60 + seconds)


class _Parser:
    """Turns a schema-valid document into a :class:`Scenario`, collecting semantic problems."""

    def __init__(self, data: Mapping[str, Any], marks: Marks, source: str) -> None:
        self.data = data
        self.marks = marks
        self.source = source
        self.problems: list[str] = []

    def problem(self, path: Sequence[object], message: str, *, key: str | None = None) -> None:
        line, col = self.marks.at(path, key=key)
        where = pointer([*path, key] if key else path)
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
        feedback = value.get("feedback") or {}
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
            feedback_late=float(feedback.get("late", base.feedback_late)),
            feedback_delay=self.delay(
                feedback.get("delay"), [*path, "feedback", "delay"], base.feedback_delay
            ),
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
            reinstate_delay=self.delay(
                (value.get("reinstate") or {}).get("delay"),
                [*path, "reinstate", "delay"],
                base.reinstate_delay,
            ),
        )

    def referral_profile(
        self, value: Mapping[str, Any] | None, path: list[object]
    ) -> ReferralProfile:
        base = ReferralProfile()
        if not value:
            return base
        removed = float(value.get("removed", base.removed))
        missing = float(value.get("missing", base.missing))
        if removed + missing > 1.0:
            self.problem(path, "expected removed + missing to be at most 1")
        return ReferralProfile(
            removed=removed,
            missing=missing,
            delay=self.delay(value.get("delay"), [*path, "delay"], base.delay),
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
                    referrals=self.referral_profile(raw.get("referrals"), [*path, "referrals"]),
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
                if party.id == EUROPOL:
                    self.problem(
                        [group, i],
                        f"expected another id: {EUROPOL!r} is Europol, which the runner "
                        "registers itself when a referral wave names it",
                        key="id",
                    )
        authority_ids = {a.id for a in authorities}
        hsp_ids = {h.id for h in hsps}

        def need(ids: Iterable[str], role: str, path: list[object], key: str) -> None:
            pool = {
                "authority": authority_ids,
                "referrer": authority_ids | {EUROPOL},
                "hsp": hsp_ids,
            }[role]
            for party_id in ids:
                if party_id not in pool:
                    known = ", ".join(sorted(pool))
                    what = "an authority or europol" if role == "referrer" else f"an {role}"
                    self.problem(
                        path,
                        f"expected {what} of the scenario ({known}), got {party_id!r}",
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
            if inject.kind in ("wave", "order", "referrals"):
                if inject.id in keys:
                    self.problem(path, f"expected a unique ref; {inject.id!r} is taken", key="ref")
                keys.add(inject.id)
        order_keys: set[str] = set()
        for inject in injects:
            if inject.kind == "order":
                order_keys.add(inject.id)
            elif inject.kind == "wave":
                order_keys.update(f"{inject.id}-{n:03d}" for n in range(1, inject.orders + 1))
        for i, inject in enumerate(injects):
            if inject.kind in ("withdraw", "scrutiny") and inject.order not in order_keys:
                self.problem(
                    ["injects", i],
                    "expected the ref of an order inject or REF-NNN of a wave "
                    f"(e.g. w1-001), got {inject.order!r}",
                    key="order",
                )
        by_id = {a.id: a for a in authorities}
        hsp_by_id = {h.id: h for h in hsps}
        draft = Scenario(
            name="",
            description="",
            speed=1.0,
            seed=0,
            duration_s=None,
            advance_information=(),
            authorities=(),
            hsps=(),
            injects=tuple(injects),
        )
        pairs, offsets = draft.order_pairs(), draft.order_offsets()
        for i, inject in enumerate(injects):
            if inject.kind != "scrutiny" or inject.order not in pairs:
                continue
            injects[i] = replace(inject, at_s=offsets[inject.order] + inject.after_s)
            self.scrutiny_check(inject, ["injects", i], pairs, by_id, hsp_by_id)
        duration = data.get("duration")
        everyone: list[Authority | Hsp] = [*authorities, *hsps]
        live = [p.id for p in everyone if p.live]
        if live and duration is None:
            self.problem([], f"expected a duration: live parties ({', '.join(live)}) take part")
        if live and data.get("skip_idle"):
            self.problem(
                [],
                f"expected skip_idle false with live parties ({', '.join(live)}): the runner "
                "cannot tell when a real participant is idle",
                key="skip_idle",
            )
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
            skip_idle=bool(data.get("skip_idle", False)),
            source=self.source,
        )

    def scrutiny_check(
        self,
        inject: Inject,
        path: list[object],
        pairs: Mapping[str, tuple[str, str]],
        authorities: Mapping[str, Authority],
        hsps: Mapping[str, Hsp],
    ) -> None:
        """Art. 4: only the host Member State's authority scrutinises a cross-border order."""
        sender, recipient = pairs[inject.order]
        if sender not in authorities or recipient not in hsps:
            return  # reported by the order's own checks
        host_ms = hsps[recipient].main_establishment
        issuing_ms = authorities[sender].member_state
        if host_ms == issuing_ms:
            self.problem(
                path,
                f"expected a cross-border order (Art. 4): {inject.order} is issued by "
                f"{sender} ({issuing_ms}) to {recipient}, established in {host_ms}",
                key="order",
            )
            return
        # The broker sends the copy to the first authority of the host Member State by id.
        host = min((a.id for a in authorities.values() if a.member_state == host_ms), default=None)
        if host is None:
            self.problem(
                path,
                f"expected an authority of {host_ms} in the scenario: it receives the copy "
                f"of {inject.order} (Art. 4(1)) and scrutinises it",
                key="by",
            )
        elif inject.by != host:
            self.problem(
                path,
                f"expected {host!r}, the authority of the host Member State {host_ms} that "
                f"receives the copy of {inject.order} (Art. 4(1)), got {inject.by!r}",
                key="by",
            )
        if inject.after_s >= OWN_SCRUTINY_S:
            self.problem(
                path,
                "expected less than 72:00: own-initiative scrutiny is within 72 hours of the "
                "copy (Art. 4(3))",
                key="after",
            )

    def inject(self, raw: Mapping[str, Any], path: list[object], need: Any) -> Inject:
        kind = raw["do"]
        common: dict[str, Any] = {
            "kind": kind,
            "at_s": _seconds(raw.get("at", 0)),
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
        if kind == "referrals":
            need(raw["from"], "referrer", path, "from")
            need(raw["to"], "hsp", path, "to")
            return Inject(
                **common,
                id=raw["ref"],
                senders=tuple(raw["from"]),
                recipients=tuple(raw["to"]),
                items=int(raw["items"]),
                over_s=_seconds(raw.get("over", 0)),
            )
        if kind == "scrutiny":
            need([raw["by"]], "authority", path, "by")
            return Inject(
                **common,
                order=raw["order"],
                by=raw["by"],
                decision=raw["decision"],
                after_s=_seconds(raw["after"]),
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
    marks = Marks(root)
    if not isinstance(data, dict):
        raise ScenarioError([f"{source}:1:1: /: expected a mapping (name, authorities, ...)"])
    validator = Draft202012Validator(load_schema("scenario"))
    errors = sorted(
        validator.iter_errors(data), key=lambda e: (marks.at(list(e.absolute_path)), e.message)
    )
    if errors:
        problems = list(dict.fromkeys(schema_problem(e, marks, source) for e in errors))
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
