"""The error catalogue: every code of docs/providers.md, classed as the docs say.

The expected classes below are written from providers.md (the "Retry?" columns) and
architecture.md ("The engine", step 3), not copied from the module's table.
"""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path

import pytest

from waapp.core import catalogue
from waapp.core.catalogue import CatalogueEntry, Dialect, ErrorClass, classify_http, lookup

SOON = "retry_soon"
LATER = "retry_later"
NEVER = "never"
TEMPLATE = "needs_template"
PAUSE = "pause_campaign"
FAIL = "fail_campaign"
UNKNOWN = "unknown_outcome"

# providers.md §1.3, the table, plus the legacy-mapping codes (meanings unverified).
TWILIO_EXPECTED: dict[int, str] = {
    20003: PAUSE,  # fix credentials
    20429: SOON,  # safe to retry with backoff
    21211: NEVER,
    21408: NEVER,  # unless Geo Permissions change
    21610: NEVER,
    21611: LATER,
    21654: FAIL,  # bug: every message
    92005: FAIL,
    63003: NEVER,
    63007: FAIL,  # wrong sender: config
    63014: NEVER,
    63016: TEMPLATE,
    63018: LATER,
    63021: NEVER,
    63024: NEVER,
    63030: FAIL,  # media with a structured template: every message
    63032: NEVER,  # retrying soon fails again
    63038: LATER,  # daily limit
    63049: NEVER,  # US: never (brief: never everywhere, nuance in the meaning)
    30036: LATER,
    # legacy mapping
    63001: PAUSE,  # channel authentication
    63005: NEVER,  # content not accepted (1000)
    63012: SOON,  # internal errors (500/1011/1014)
    63013: NEVER,  # policy / parameters (1008/1009)
    63019: SOON,  # media download (400), limited
    63020: PAUSE,  # business / payment (402)
    63022: PAUSE,  # certificate (430/432/433)
    63025: NEVER,  # already exists (1004)
    63027: FAIL,  # template missing (2001/2003)
    63028: FAIL,  # parameter count (2000)
    63029: SOON,  # template fetch (2002), limited
}

# providers.md §2.3 (the 200–299 range is tested separately).
META_EXPECTED: dict[int, str] = {
    0: PAUSE,
    3: PAUSE,
    10: PAUSE,
    190: PAUSE,
    4: SOON,
    80007: SOON,
    130429: SOON,
    131056: LATER,
    131048: PAUSE,
    131064: PAUSE,
    133016: LATER,
    368: PAUSE,
    131031: PAUSE,
    130497: NEVER,
    130472: NEVER,
    131026: NEVER,
    131047: TEMPLATE,
    131049: LATER,
    131050: NEVER,
    131030: NEVER,
    131051: FAIL,
    131052: SOON,
    131053: PAUSE,
    131008: NEVER,
    131009: NEVER,
    132000: FAIL,
    132001: FAIL,
    132005: NEVER,
    132007: NEVER,
    132008: NEVER,
    132012: FAIL,
    132015: PAUSE,
    132016: PAUSE,
    131000: SOON,
    131016: SOON,
    131005: PAUSE,
    131021: NEVER,
    131042: PAUSE,
    131045: PAUSE,
    131057: LATER,
    131037: PAUSE,
    135000: SOON,
    100: FAIL,
    1: SOON,
    2: SOON,
}

# providers.md §3.3/§3.4: WaSender has no codes; these are waapp's.
WASENDER_EXPECTED: dict[str, str] = {
    "http_401": PAUSE,
    "http_403": PAUSE,
    "http_422": NEVER,
    "http_429": SOON,
    "http_5xx": SOON,
    "session_need_scan": PAUSE,
    "session_disconnected": PAUSE,
    "session_logged_out": PAUSE,
    "session_expired": PAUSE,
    "session_connecting": PAUSE,
    "not_on_whatsapp": NEVER,
    "message_error": NEVER,
}

# Every dialect: the request never left → retry; it may have reached → unknown outcome.
TRANSPORT_EXPECTED: dict[str, str] = {
    "timeout_before_send": SOON,
    "connection_failed": SOON,
    "timeout_after_send": UNKNOWN,
    "connection_reset": UNKNOWN,
    "bad_response": UNKNOWN,
}

ALL_DIALECTS = ["twilio", "meta", "kapso", "wasender"]
JARGON = (
    "TODO",
    "TBD",
    "FIXME",
    "XXX",
    "lorem",
    "None",
    "{",
    "}",
    "<",
    ">",
    "MPS",
    "WABA",
    "E.164",
    "HTTP",
    "payload",
    "endpoint",
    "webhook",
    "wamid",
    "JSON",
    "OAuth",
    "ContentSid",
    "ContentVariables",
    "biz_opaque",
    "null",
    "http_",
)


@pytest.mark.parametrize(("code", "expected"), sorted(TWILIO_EXPECTED.items()))
def test_twilio_code_class(code: int, expected: str) -> None:
    entry = lookup("twilio", code)
    assert entry.known
    assert entry.provider is Dialect.TWILIO
    assert entry.code == str(code)
    assert entry.error_class == expected


@pytest.mark.parametrize(("code", "expected"), sorted(META_EXPECTED.items()))
def test_meta_code_class(code: int, expected: str) -> None:
    entry = lookup("meta", code)
    assert entry.known
    assert entry.provider is Dialect.META
    assert entry.code == str(code)
    assert entry.error_class == expected


@pytest.mark.parametrize(("code", "expected"), sorted(WASENDER_EXPECTED.items()))
def test_wasender_code_class(code: str, expected: str) -> None:
    entry = lookup("wasender", code)
    assert entry.known
    assert entry.provider is Dialect.WASENDER
    assert entry.error_class == expected


@pytest.mark.parametrize("provider", ALL_DIALECTS)
@pytest.mark.parametrize(("code", "expected"), sorted(TRANSPORT_EXPECTED.items()))
def test_transport_code_class(provider: str, code: str, expected: str) -> None:
    entry = lookup(provider, code)
    assert entry.known
    assert entry.error_class == expected


@pytest.mark.parametrize("code", [200, 201, 250, 299, "299"])
def test_meta_permission_range(code: int | str) -> None:
    entry = lookup("meta", code)
    assert entry.known
    assert entry.error_class == PAUSE
    assert entry.code == str(code)  # the exact code, not the range's key


@pytest.mark.parametrize("code", [199, 300])
def test_meta_range_bounds(code: int) -> None:
    assert not lookup("meta", code).known


def test_meta_range_is_one_entry_in_the_list() -> None:
    keys = [e.code for e in catalogue.entries() if e.provider is Dialect.META]
    assert "200-299" in keys
    assert not any(k.isdigit() and 200 <= int(k) <= 299 for k in keys)


def test_every_listed_code_is_in_entries() -> None:
    have = {(e.provider, e.code) for e in catalogue.entries()}
    want = (
        {(Dialect.TWILIO, str(c)) for c in TWILIO_EXPECTED}
        | {(Dialect.META, str(c)) for c in META_EXPECTED}
        | {(Dialect.WASENDER, c) for c in WASENDER_EXPECTED}
        | {(p, c) for p in Dialect for c in TRANSPORT_EXPECTED}
    )
    assert want <= have


def test_entries_are_unique() -> None:
    keys = [(e.provider, e.code) for e in catalogue.entries()]
    assert len(keys) == len(set(keys))


def _sentences(text: str) -> int:
    return len([s for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s])


@pytest.mark.parametrize("entry", catalogue.entries(), ids=lambda e: f"{e.provider}-{e.code}")
def test_entry_is_plain_language(entry: CatalogueEntry) -> None:
    assert entry.title.strip() and entry.meaning.strip() and entry.what_to_do.strip()
    assert len(entry.title) <= 60 and not entry.title.endswith(".")
    assert entry.meaning.endswith(".") and entry.what_to_do.endswith(".")
    assert _sentences(entry.meaning) <= 3
    assert _sentences(entry.what_to_do) <= 3
    for text in (entry.title, entry.meaning, entry.what_to_do):
        for word in JARGON:
            assert word not in text, f"{word!r} in {text!r}"
        assert "  " not in text
    assert "todo" not in entry.meaning.lower()


@pytest.mark.parametrize("entry", catalogue.entries(), ids=lambda e: f"{e.provider}-{e.code}")
def test_waits_are_consistent(entry: CatalogueEntry) -> None:
    if entry.error_class is ErrorClass.RETRY_LATER:
        assert entry.retry_after is not None and entry.retry_after > timedelta(0)
    if entry.retry_after is not None:
        assert entry.error_class in (ErrorClass.RETRY_SOON, ErrorClass.RETRY_LATER)
    if entry.max_attempts is not None:
        assert entry.max_attempts >= 1
    if entry.account_wide:
        assert entry.error_class in (ErrorClass.RETRY_SOON, ErrorClass.RETRY_LATER)


def test_specific_waits() -> None:
    later_131049 = lookup("meta", 131049).retry_after
    pair_rate = lookup("meta", 131056).retry_after
    assert later_131049 is not None and later_131049 >= timedelta(hours=24)
    assert pair_rate is not None and pair_rate < timedelta(hours=1)


def test_retry_later_needs_a_wait() -> None:
    with pytest.raises(ValueError):
        CatalogueEntry(Dialect.META, "1", ErrorClass.RETRY_LATER, "t", "m.", "w.")


def test_not_charged_codes() -> None:
    assert lookup("twilio", 63032).charged is False
    assert lookup("meta", 130472).charged is False


def test_63049_explains_the_united_states() -> None:
    assert "United States" in lookup("twilio", 63049).meaning


def test_unverified_codes_say_so() -> None:
    for code in (63020, 63022, 63012, 63027, 63028, 63029, 63013, 63005, 63001, 63025, 63019):
        entry = lookup("twilio", code)
        assert not entry.verified
        assert "only briefly" in entry.meaning


@pytest.mark.parametrize("provider", ALL_DIALECTS)
def test_unknown_outcome_is_never_retried_blindly(provider: str) -> None:
    for code in ("timeout_after_send", "connection_reset", "bad_response"):
        entry = lookup(provider, code)
        assert entry.error_class is ErrorClass.UNKNOWN_OUTCOME
        assert entry.retry_after is None and not entry.account_wide


# --- lookup --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "code"),
    [("twilio", 63016), ("meta", 131047), ("meta", 0), ("twilio", 21211), ("meta", 2)],
)
def test_lookup_accepts_int_and_str(provider: str, code: int) -> None:
    as_int = lookup(provider, code)
    assert lookup(provider, str(code)) == as_int
    assert lookup(provider, f" {code} ") == as_int
    assert as_int.known


@pytest.mark.parametrize("code", [131047, 190, 250, "timeout_after_send", 999999])
def test_kapso_speaks_meta(code: int | str) -> None:
    assert lookup("kapso", code) == lookup("meta", code)
    assert lookup("kapso", code).provider is Dialect.META


def test_lookup_accepts_enums_and_any_case() -> None:
    assert lookup(Dialect.TWILIO, 63016) == lookup("TWILIO ", 63016)
    assert lookup("wasender", "HTTP_429") == lookup("wasender", "http_429")


@pytest.mark.parametrize("provider", ["sandbox", "Sandbox", "whatsapp", ""])
def test_lookup_refuses_what_is_not_a_dialect(provider: str) -> None:
    with pytest.raises(ValueError):
        lookup(provider, 63016)


@pytest.mark.parametrize(
    ("provider", "code"),
    [("twilio", 99999), ("meta", 987654), ("wasender", "something_new"), ("meta", "-3")],
)
def test_unknown_code_gives_a_generic_entry(provider: str, code: int | str) -> None:
    entry = lookup(provider, code)
    assert not entry.known
    assert entry.code == str(code)
    assert str(code) in entry.meaning and str(code) in entry.title
    assert entry.error_class is ErrorClass.RETRY_SOON
    assert entry.max_attempts is not None and entry.max_attempts <= 3
    assert entry.what_to_do


def test_unknown_empty_code_does_not_raise() -> None:
    assert not lookup("meta", "").known


def test_http_families_keep_the_exact_status() -> None:
    entry = lookup("wasender", "http_502")
    assert entry.code == "http_502"
    assert entry.error_class is ErrorClass.RETRY_SOON


# --- classify_http -------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ALL_DIALECTS)
@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, PAUSE),
        (403, PAUSE),
        (429, SOON),
        (500, SOON),
        (503, SOON),
        (408, SOON),
        (400, NEVER),
        (422, NEVER),
        (409, NEVER),
        (404, FAIL),
        (301, FAIL),
        (200, UNKNOWN),
    ],
)
def test_classify_by_status(provider: str, status: int, expected: str) -> None:
    assert classify_http(provider, status).error_class == expected


@pytest.mark.parametrize(
    ("provider", "status", "code", "expected"),
    [
        ("meta", 400, 131047, TEMPLATE),
        ("meta", 400, 131056, LATER),
        ("meta", 400, 131026, NEVER),
        ("meta", 401, 190, PAUSE),
        ("meta", 429, 130429, SOON),
        ("meta", 400, 130429, SOON),  # the code wins over the status
        ("meta", 500, 132001, FAIL),
        ("meta", 400, 368, PAUSE),
        ("meta", 400, 250, PAUSE),
        ("kapso", 400, "131047", TEMPLATE),
        ("twilio", 400, 21211, NEVER),
        ("twilio", 401, 20003, PAUSE),
        ("twilio", 429, 20429, SOON),
        ("twilio", 400, 63016, TEMPLATE),
        ("wasender", 401, "http_401", PAUSE),
    ],
)
def test_known_code_wins(provider: str, status: int, code: int | str, expected: str) -> None:
    entry = classify_http(provider, status, code)
    assert entry == lookup(provider, code)
    assert entry.error_class == expected


def test_unknown_code_falls_back_to_status_and_names_the_code() -> None:
    entry = classify_http("meta", 400, 987654)
    assert entry.error_class is ErrorClass.NEVER
    assert "987654" in entry.meaning
    assert classify_http("twilio", 503, 12345).error_class is ErrorClass.RETRY_SOON
    assert classify_http("twilio", 401, 401).error_class is ErrorClass.PAUSE_CAMPAIGN


def test_empty_code_is_no_code() -> None:
    assert classify_http("meta", 400, "") == classify_http("meta", 400)
    assert classify_http("meta", 400, None) == classify_http("meta", 400)


def test_5xx_keeps_the_exact_status() -> None:
    assert classify_http("meta", 503).code == "http_503"


@pytest.mark.parametrize("status", [0, 99, 600, 999])
def test_odd_status_is_an_unknown_outcome(status: int) -> None:
    assert classify_http("twilio", status).error_class is ErrorClass.UNKNOWN_OUTCOME


def test_classify_refuses_sandbox() -> None:
    with pytest.raises(ValueError):
        classify_http("sandbox", 500)


def test_catalogue_is_pure_python() -> None:
    source = Path(catalogue.__file__).read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "dataclasses", "datetime", "enum", "re"}


def test_account_advice_drops_the_campaign_part_for_checks_outside_a_campaign() -> None:
    token = catalogue.lookup("meta", "190")
    assert "resume the campaign" in token.what_to_do
    assert token.account_advice == (
        "Create a new access token in Meta Business Manager (a system-user token does not "
        "expire) and paste it into the account settings."
    )
    for entry in catalogue.entries():
        advice = entry.account_advice
        assert "resume the campaign" not in advice, (entry.code, advice)
        assert advice.endswith((".", ")")), (entry.code, advice)
