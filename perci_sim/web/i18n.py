"""The dashboard's message catalogues: every text of the pages, looked up by key.

One JSON file per language in ``perci_sim/web/messages/`` (``en.json`` is the
reference); adding a language is adding a file with the same keys.  The same
catalogue is handed to the page's JavaScript, so the server-rendered shell and the
live parts speak the same language.  The TCO Regulation's forms exist in every EU
language; the catalogue keys follow the forms' structure (``annex3.reason.*``).
"""

from __future__ import annotations

import json
import re
from functools import cache
from importlib import resources

__all__ = ["DEFAULT_LANGUAGE", "Catalogue", "available_languages", "catalogue", "negotiate"]

DEFAULT_LANGUAGE = "en"
_PACKAGE = "perci_sim.web"
_LANG = re.compile(r"^[a-z]{2}$")


class Catalogue:
    """The messages of one language, with ``{name}`` placeholders."""

    def __init__(self, language: str, messages: dict[str, str]) -> None:
        self.language = language
        self.messages = messages

    def t(self, key: str, **params: object) -> str:
        """The message ``key`` with its placeholders filled (KeyError when unknown)."""
        text = self.messages[key]
        for name, value in params.items():
            text = text.replace("{" + name + "}", str(value))
        return text

    def as_json(self) -> str:
        """The catalogue as JSON safe to embed in a ``<script type=application/json>``."""
        return json.dumps(self.messages, ensure_ascii=False).replace("<", "\\u003c")


@cache
def available_languages() -> tuple[str, ...]:
    """The languages with a catalogue file, sorted."""
    folder = resources.files(_PACKAGE).joinpath("messages")
    names = (entry.name for entry in folder.iterdir() if entry.name.endswith(".json"))
    return tuple(sorted(name.removesuffix(".json") for name in names))


@cache
def catalogue(language: str = DEFAULT_LANGUAGE) -> Catalogue:
    """The catalogue of ``language`` (a two-letter code with a file; else English)."""
    if language not in available_languages():
        language = DEFAULT_LANGUAGE
    text = resources.files(_PACKAGE).joinpath("messages", f"{language}.json").read_text("utf-8")
    messages = json.loads(text)
    if language != DEFAULT_LANGUAGE:
        # A catalogue being translated falls back to English key by key.
        messages = {**catalogue(DEFAULT_LANGUAGE).messages, **messages}
    return Catalogue(language, messages)


def negotiate(accept_language: str | None) -> str:
    """The first language of an ``Accept-Language`` header that has a catalogue."""
    for part in (accept_language or "").split(","):
        code = part.split(";", 1)[0].strip().lower()[:2]
        if _LANG.match(code) and code in available_languages():
            return code
    return DEFAULT_LANGUAGE
