"""The EU-27 Member States and their official languages (ISO 639-1).

TCO Art. 15(2): an HSP's contact point designates the languages it takes
orders in, including at least one official language of the Member State of
its main establishment or legal representative.
"""

from __future__ import annotations

__all__ = ["MEMBER_STATES", "OFFICIAL_LANGUAGES", "designates_host_language"]

#: Two-letter codes as used by the EU (Greece is "EL").
OFFICIAL_LANGUAGES: dict[str, frozenset[str]] = {
    "AT": frozenset({"de"}),
    "BE": frozenset({"nl", "fr", "de"}),
    "BG": frozenset({"bg"}),
    "CY": frozenset({"el"}),
    "CZ": frozenset({"cs"}),
    "DE": frozenset({"de"}),
    "DK": frozenset({"da"}),
    "EE": frozenset({"et"}),
    "EL": frozenset({"el"}),
    "ES": frozenset({"es"}),
    "FI": frozenset({"fi", "sv"}),
    "FR": frozenset({"fr"}),
    "HR": frozenset({"hr"}),
    "HU": frozenset({"hu"}),
    "IE": frozenset({"en", "ga"}),
    "IT": frozenset({"it"}),
    "LT": frozenset({"lt"}),
    "LU": frozenset({"fr", "de"}),
    "LV": frozenset({"lv"}),
    "MT": frozenset({"mt", "en"}),
    "NL": frozenset({"nl"}),
    "PL": frozenset({"pl"}),
    "PT": frozenset({"pt"}),
    "RO": frozenset({"ro"}),
    "SE": frozenset({"sv"}),
    "SI": frozenset({"sl"}),
    "SK": frozenset({"sk"}),
}

MEMBER_STATES: frozenset[str] = frozenset(OFFICIAL_LANGUAGES)


def designates_host_language(member_state: str, languages: tuple[str, ...]) -> bool:
    """R5: the designated languages include one official language of ``member_state``."""
    return bool(OFFICIAL_LANGUAGES.get(member_state, frozenset()) & set(languages))
