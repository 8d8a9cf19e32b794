"""Every text of the dashboard is a catalogue key (perci_sim/web/i18n.py)."""

from __future__ import annotations

import re
from importlib import resources

from perci_sim.web.i18n import available_languages, catalogue, negotiate

_STATIC = resources.files("perci_sim.web").joinpath("static")
_PAGES = resources.files("perci_sim.web").joinpath("pages.py")
# t("key"), t(`state.${x}`) and cat.t("key") calls in the scripts and the page builders.
_KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_.]+)["']""")
_PREFIX = re.compile(r"""\bt\(\s*(?:["']([a-z0-9_]+\.)["']\s*\+|`([a-z0-9_]+\.)\$\{)""")


def _sources() -> list[str]:
    texts = [entry.read_text("utf-8") for entry in _STATIC.iterdir() if entry.name.endswith(".js")]
    return [*texts, _PAGES.read_text("utf-8")]


def test_every_key_the_code_uses_is_in_the_english_catalogue() -> None:
    """A missing key would show its name on the page."""
    messages = catalogue("en").messages
    used = {key for text in _sources() for key in _KEY.findall(text) if not key.endswith(".")}
    assert len(used) > 60
    assert sorted(used - set(messages)) == []
    prefixes = {p for text in _sources() for pair in _PREFIX.findall(text) for p in pair if p}
    assert prefixes >= {"state.", "doc."}
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in messages), prefix


def test_placeholders_are_filled_and_unknown_languages_fall_back() -> None:
    cat = catalogue("en")
    assert cat.t("orders.overdue_by", time="1:00") == "overdue by 1:00"
    assert available_languages() == ("en",)
    assert catalogue("xx").language == "en"
    assert negotiate("fr-FR,fr;q=0.9,en;q=0.8") == "en"
    assert negotiate(None) == "en"
    assert "<" not in cat.as_json().replace("\\u003c", "")
