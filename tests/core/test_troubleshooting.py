"""The troubleshooting guide: complete entries, real catalogue codes, search."""

from __future__ import annotations

import pytest

from waapp.core.catalogue import Dialect, entries, lookup
from waapp.core.troubleshooting import entries_for_code, entry, guide, search

CATALOGUE = {(e.provider, e.code) for e in entries()}


def test_every_entry_has_all_its_parts() -> None:
    keys = [item.key for item in guide()]
    assert len(keys) == len(set(keys))
    for item in guide():
        assert item.symptom.strip(), item.key
        for part in (item.causes, item.how_to_check, item.fix):
            assert part and all(text.strip() for text in part), item.key
        for text in (item.symptom, *item.causes, *item.how_to_check, *item.fix):
            assert text == text.strip() and "  " not in text, (item.key, text)


def test_every_linked_code_is_in_the_catalogue() -> None:
    for item in guide():
        for dialect, code in item.codes:
            assert isinstance(dialect, Dialect)
            assert (dialect, code) in CATALOGUE, (item.key, dialect, code)
            assert lookup(dialect, code).known


@pytest.mark.parametrize(
    ("key", "codes"),
    [
        ("sent-not-delivered", {"63024", "131026", "130472", "63032", "131049", "63049"}),
        ("outside-24h", {"63016", "131047"}),
        ("session-disconnected", {"session_need_scan", "session_disconnected"}),
        ("template-paused", {"132015", "132016"}),
        ("rate-limits", {"130429", "63018", "http_429"}),
        ("login-refused", {"http_401", "20003", "190"}),
    ],
)
def test_the_pains_of_the_field_are_covered(key: str, codes: set[str]) -> None:
    assert codes <= {code for _, code in entry(key).codes}


def test_symptoms_without_codes_are_covered_too() -> None:
    for key in ("no-country-code", "stuck-scheduled", "stuck-sending", "no-delivery-reports"):
        assert entry(key).fix
    assert "missed-schedule policy" in " ".join(entry("stuck-scheduled").causes)
    assert "timeline" in " ".join(entry("paused-by-itself").how_to_check)
    reports = entry("no-delivery-reports")
    assert any("tunnel" in cause for cause in reports.causes)
    assert any("forged" in cause for cause in reports.causes)
    assert any("cloudflared tunnel --url" in fix for fix in reports.fix)
    with pytest.raises(KeyError):
        entry("nope")


def test_search_by_code_by_words_and_by_catalogue_title() -> None:
    assert [e.key for e in search("131047")] == ["outside-24h"]
    assert search("63016")[0].key == "outside-24h"
    assert search("QR code")[0].key == "session-disconnected"
    assert search("not delivered")[0].key == "sent-not-delivered"
    assert search("country code")[0].key == "no-country-code"
    assert search("SCHEDULED")[0].key == "stuck-scheduled"
    # A catalogue title that the entry's own text does not use.
    assert "template-paused" in [e.key for e in search("Template disabled")]
    assert search("") == guide()
    assert search("zzzz nothing") == []


def test_entries_for_code_goes_from_an_error_to_its_explanation() -> None:
    assert [e.key for e in entries_for_code(Dialect.META, "131047")] == ["outside-24h"]
    assert [e.key for e in entries_for_code("kapso", 131047)] == ["outside-24h"]
    assert "session-disconnected" in [
        e.key for e in entries_for_code("wasender", "session_need_scan")
    ]
    assert entries_for_code("twilio", "99999") == []
