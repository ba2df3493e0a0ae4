"""Opt-out keywords: whole message only; case, accents, punctuation and spaces ignored."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from waapp.services.status.keywords import (
    DEFAULT_OPT_OUT_KEYWORDS,
    OptOutKeywords,
    keyword_key,
    keywords_from_setting,
    opt_out_reason,
)

DEFAULT = OptOutKeywords()


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        "  Stop!  ",
        "Stop.",
        "S.T.O.P",
        "STOP ALL",
        "stop-all",
        "StopAll",
        "unsubscribe",
        "Baja",
        "BAJA 🙏",
        "dar de baja",
        "Parar",
        "sair",
        "Berhenti",
        "ARRÊT",
        "arret",
        "Arrêt !",
        "désabonner",
        "Quit",
        "¡Baja!",
        "STOPP",
    ],
)
def test_keywords_in_several_languages_opt_out(text: str) -> None:
    assert DEFAULT.matches(text)
    assert DEFAULT.reason(text) == opt_out_reason(text)


@pytest.mark.parametrize(
    "text",
    [
        "stop by tomorrow?",
        "please don't stop",
        "Stop sending me this",
        "stopped",
        "the end of the month",
        "",
        "   ",
        "🙏",
        "STOP " * 20,
        "bajar",
    ],
)
def test_conversation_is_not_an_opt_out(text: str) -> None:
    assert not DEFAULT.matches(text)
    assert DEFAULT.reason(text) is None


def test_the_reason_quotes_the_reply_tidily() -> None:
    assert opt_out_reason("  STOP \n") == 'Replied "STOP" on WhatsApp'


def test_the_list_comes_from_the_setting_with_defaults() -> None:
    assert keywords_from_setting(None) == DEFAULT_OPT_OUT_KEYWORDS
    assert keywords_from_setting("STOP") == DEFAULT_OPT_OUT_KEYWORDS  # damaged: defaults
    assert keywords_from_setting(["para", 3]) == DEFAULT_OPT_OUT_KEYWORDS
    assert keywords_from_setting(["PARA"]) == ("PARA",)
    custom = OptOutKeywords(keywords_from_setting(["Abbestellen"]))
    assert custom.matches("ABBESTELLEN!") and not custom.matches("STOP")
    assert not OptOutKeywords([]).matches("STOP")  # an empty list switches it off


_decor = st.text(alphabet=" .,!?¡¿-_*'\"()🙏🛑\t\n", max_size=4)


@given(
    keyword=st.sampled_from(DEFAULT_OPT_OUT_KEYWORDS),
    before=_decor,
    after=_decor,
    flips=st.lists(st.booleans(), min_size=20, max_size=20),
)
def test_any_casing_and_punctuation_around_a_keyword_still_matches(
    keyword: str, before: str, after: str, flips: list[bool]
) -> None:
    cased = "".join(
        ch.upper() if flip else ch.lower() for ch, flip in zip(keyword, flips * 2, strict=False)
    )
    assert DEFAULT.matches(before + cased + after)


@given(
    keyword=st.sampled_from(DEFAULT_OPT_OUT_KEYWORDS),
    word=st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=8),
)
def test_a_keyword_inside_a_sentence_does_not_match(keyword: str, word: str) -> None:
    text = f"{keyword} {word}"
    assert DEFAULT.matches(text) == (
        keyword_key(text) in {keyword_key(k) for k in DEFAULT.keywords}
    )


@given(st.text(max_size=80))
def test_the_key_is_idempotent_and_never_raises(text: str) -> None:
    key = keyword_key(text)
    assert keyword_key(key) == key
    assert DEFAULT.matches(text) in (True, False)
