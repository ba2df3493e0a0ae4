"""Opt-out keywords: does an inbound message mean "stop writing to me"?

Policy (decided here): only a **whole message** that is a keyword opts the contact out —
"STOP", " stop! ", "Stop." and "S.T.O.P" do; "stop by tomorrow?" and "please don't stop"
do not (they are conversation, and opting someone out on a guess loses a customer).
Comparison ignores case, accents, punctuation, symbols (emoji) and spaces: "ARRÊT",
"arret", "Arrêt !" and "STOP-ALL" / "stop all" / "STOPALL" are each one keyword.

The list is configurable: the setting :data:`OPT_OUT_KEYWORDS_KEY` holds a JSON list of
strings; when unset, :data:`DEFAULT_OPT_OUT_KEYWORDS` applies. An empty list switches
keyword opt-out off.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

__all__ = [
    "DEFAULT_OPT_OUT_KEYWORDS",
    "MAX_KEYWORD_MESSAGE",
    "OPT_OUT_KEYWORDS_KEY",
    "OptOutKeywords",
    "keyword_key",
    "keywords_from_setting",
    "opt_out_reason",
]

OPT_OUT_KEYWORDS_KEY = "opt_out_keywords"

DEFAULT_OPT_OUT_KEYWORDS: tuple[str, ...] = (
    # English (the carriers' and Twilio's standard set)
    "STOP",
    "STOP ALL",
    "UNSUBSCRIBE",
    "CANCEL",
    "END",
    "QUIT",
    "OPT OUT",
    # Spanish
    "BAJA",
    "DAR DE BAJA",
    "PARAR",
    "CANCELAR",
    # Portuguese
    "SAIR",
    "PARE",
    "DESCADASTRAR",
    # Indonesian / Malay
    "BERHENTI",
    # French
    "ARRÊT",
    "ARRÊTER",
    "DÉSABONNER",
    "DÉSINSCRIRE",
    # German, Italian
    "STOPP",
    "ABMELDEN",
    "BASTA",
)

#: Messages longer than this are never a keyword (and are not normalised at all).
MAX_KEYWORD_MESSAGE = 64


def keyword_key(text: str) -> str:
    """The comparison form: accents removed, case folded, only letters and digits kept."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(
        ch for ch in decomposed.casefold() if ch.isalnum() and not unicodedata.combining(ch)
    )


def keywords_from_setting(value: Any) -> tuple[str, ...]:
    """The keyword list from the stored setting: a list of strings; anything else (unset,
    damaged) gives the defaults."""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    return DEFAULT_OPT_OUT_KEYWORDS


def opt_out_reason(text: str) -> str:
    """The reason stored with the opt-out, e.g. ``Replied "STOP" on WhatsApp``."""
    return f'Replied "{" ".join(text.split())}" on WhatsApp'


class OptOutKeywords:
    """A compiled keyword list: :meth:`reason` says whether a message opts its sender out."""

    def __init__(self, keywords: Iterable[str] = DEFAULT_OPT_OUT_KEYWORDS) -> None:
        self.keywords = tuple(keywords)
        self._keys = frozenset(key for key in map(keyword_key, self.keywords) if key)

    def matches(self, text: str) -> bool:
        if len(text) > MAX_KEYWORD_MESSAGE or not self._keys:
            return False
        return keyword_key(text) in self._keys

    def reason(self, text: str) -> str | None:
        """The opt-out reason when ``text`` is a keyword, else None."""
        return opt_out_reason(text) if self.matches(text) else None
