"""The shared pieces: waits, refusals, timestamps and phone numbers from webhooks."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.providers.conftest import NOW
from waapp.core.catalogue import Dialect
from waapp.providers import base


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 1.5 ", 1.5),
        ("0", 0.0),
        ("Sun, 22 Nov 2026 12:02:00 GMT", 120.0),
        ("Sun, 22 Nov 2026 11:00:00 GMT", 0.0),
        ("-3", None),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
        ("inf", None),
    ],
)
def test_retry_after(value: str | None, seconds: float | None) -> None:
    assert base.parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),
        (str(int(NOW.timestamp()) + 90), 90.0),
        (str(int(NOW.timestamp()) - 5), 0.0),
        (str(int(NOW.timestamp() * 1000) + 2500), 2.5),
        ("x", None),
        (None, None),
    ],
    ids=["seconds-until", "timestamp", "timestamp-past", "timestamp-ms", "junk", "absent"],
)
def test_rate_limit_reset(value: str | None, seconds: float | None) -> None:
    found = base.parse_rate_limit_reset(value, now=NOW)
    assert found == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after_order_body_then_header_then_reset() -> None:
    response = httpx.Response(429, headers={"Retry-After": "9", "X-RateLimit-Reset": "40"})
    assert base.retry_after_seconds(response, body_value=61, now=NOW) == 61.0
    assert base.retry_after_seconds(response, body_value="61", now=NOW) == 61.0
    assert base.retry_after_seconds(response, body_value=True, now=NOW) == 9.0
    assert base.retry_after_seconds(response, now=NOW) == 9.0
    del response.headers["Retry-After"]
    assert base.retry_after_seconds(response, now=NOW) == 40.0


def test_rate_limit_reset_only_when_limited() -> None:
    ok_but_counted = httpx.Response(
        400, headers={"X-RateLimit-Reset": "40", "X-RateLimit-Remaining": "3"}
    )
    exhausted = httpx.Response(
        400, headers={"X-RateLimit-Reset": "40", "X-RateLimit-Remaining": "0"}
    )
    assert base.retry_after_seconds(ok_but_counted, now=NOW) is None
    assert base.retry_after_seconds(exhausted, now=NOW) == 40.0


@given(st.integers(min_value=0, max_value=10**7))
def test_retry_after_seconds_roundtrip(seconds: int) -> None:
    assert base.parse_retry_after(str(seconds), now=NOW) == float(seconds)
    stamp = (NOW + timedelta(seconds=seconds)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert base.parse_retry_after(stamp, now=NOW) == float(seconds)


def test_refusal_keeps_known_codes_and_names_unknown_ones() -> None:
    known = base.refusal(Dialect.META, status=400, code=131047, detail="late")
    assert (known.code, known.title, known.detail) == (
        "131047",
        "Outside the 24-hour window",
        "late",
    )

    ranged = base.refusal(Dialect.META, status=403, code="0210")
    assert (ranged.code, ranged.title) == ("210", "Permission missing")

    unknown = base.refusal(Dialect.TWILIO, status=422, code="99999", detail="what")
    assert (unknown.code, unknown.detail) == ("http_422", "error 99999: what")

    bare = base.refusal(Dialect.WASENDER, status=418)
    assert bare.code == "http_418" and not bare.may_have_reached


def test_long_details_are_clipped() -> None:
    error = base.refusal(Dialect.META, status=400, code=100, detail="x" * 5000)
    assert len(error.detail) == 500 and error.detail.endswith("…")


def test_async_failure_without_a_code() -> None:
    error = base.async_failure(Dialect.TWILIO, None, "no reason")
    assert error.code == "unknown" and error.detail == "no reason" and not error.may_have_reached


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("16505551234", "+16505551234"),
        ("+16505551234", "+16505551234"),
        ("whatsapp:+14155238886", "+14155238886"),
        ("15551234567@s.whatsapp.net", "+15551234567"),
        ("15551234567:12@s.whatsapp.net", "+15551234567"),
        ("5215512345678", "+525512345678"),
        ("99999999999", "+99999999999"),  # unknown to libphonenumber, phone-shaped: kept
        ("123456789@lid", None),
        ("1203630@g.us", None),
        ("", None),
        (None, None),
        ("abc", None),
        (16505551234, "+16505551234"),
    ],
)
def test_phone_e164(raw: object, expected: str | None) -> None:
    assert base.phone_e164(raw) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1749416383", datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)),
        (1749416383, datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC)),
        (1747775431467, datetime.fromtimestamp(1747775431.467, UTC)),
        ("later", NOW),
        (None, NOW),
        (0, NOW),
        (-5, NOW),
        (True, NOW),
        (10**20, NOW),
    ],
)
def test_epoch_to_datetime(value: object, expected: datetime) -> None:
    assert base.epoch_to_datetime(value, NOW) == expected


def test_next_page_params() -> None:
    assert base.next_page_params("https://x.test/a?after=C%3D&limit=2") == [
        ("after", "C="),
        ("limit", "2"),
    ]
    assert base.next_page_params(None) is None
    assert base.next_page_params("") is None
    assert base.next_page_params("https://x.test/a") is None


def test_header_lookup_is_case_insensitive() -> None:
    assert base.header({"X-Hub-Signature-256": "a"}, "x-hub-signature-256") == "a"
    assert base.header({"x-hub-signature-256": "b"}, "X-Hub-Signature-256") == "b"
    assert base.header({}, "X-Anything") is None


# --- request bodies ---------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(JSON_VALUES.filter(lambda value: value is not None))  # json=None: no body at all
def test_json_content_is_the_body_httpx_sends_for_json(value: object) -> None:
    assert base.json_content(value) == httpx.Request("POST", "http://x", json=value).content


def test_json_content_keeps_non_ascii_text_and_refuses_nan() -> None:
    assert base.json_content({"text": "Olá 👋", "n": 1}) == '{"text":"Olá 👋","n":1}'.encode()
    for number in (float("nan"), float("inf")):  # refused, as httpx refuses them
        with pytest.raises(ValueError):
            base.json_content({"n": number})
        with pytest.raises(ValueError):
            httpx.Request("POST", "http://x", json={"n": number})


def test_pages_follow_the_next_link_on_our_url_and_stop_or_refuse_after_the_last_allowed() -> None:
    asked: list[tuple[str, list[tuple[str, str]]]] = []

    async def endless(url: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        asked.append((url, params))
        return {"next": f"https://elsewhere.example/list?page={len(asked) + 1}"}

    async def collect(complete: bool) -> int:
        count = 0
        async for _body in base.pages(
            endless, "https://ours/list", [("size", "9")], lambda b: b["next"], complete=complete
        ):
            count += 1
        return count

    assert asyncio.run(collect(False)) == base.MAX_PAGES  # a listing stops quietly
    assert asked[0] == ("https://ours/list", [("size", "9")])
    assert asked[1] == ("https://ours/list", [("page", "2")])  # the cursor, on our own URL
    with pytest.raises(base.PagesLeft):  # a lookup that must be whole refuses a partial list
        asyncio.run(collect(True))
