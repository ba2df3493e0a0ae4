"""Meta's ``user_preferences`` webhook: marketing "stop" / "resume" as MarketingPreference."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.providers.conftest import NOW
from tests.providers.test_meta_webhooks import envelope, parse
from waapp.core.ports import MarketingPreference

CONTACTS = [{"wa_id": "16505551234", "profile": {"name": "Sheena"}}]


def preference(value: object, **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "wa_id": "16505551234",
        "detail": "User requested to stop marketing messages",
        "category": "marketing_messages",
        "value": value,
        "timestamp": 1731705721,
    }
    item.update(overrides)
    return item


def preferences(*items: Any) -> dict[str, Any]:
    return envelope(
        {"contacts": CONTACTS, "user_preferences": list(items)}, field="user_preferences"
    )


def test_stop_opts_out_and_resume_does_not() -> None:
    resumed = preference(
        "resume", detail="User requested to resume marketing messages", timestamp="1731705800"
    )
    assert parse(preferences(preference("stop"), resumed)) == [
        MarketingPreference(
            phone="+16505551234",
            opted_out=True,
            occurred_at=datetime.fromtimestamp(1731705721, UTC),
            detail="User requested to stop marketing messages",
        ),
        MarketingPreference(
            phone="+16505551234",
            opted_out=False,
            occurred_at=datetime.fromtimestamp(1731705800, UTC),
            detail="User requested to resume marketing messages",
        ),
    ]


def test_value_and_category_are_read_case_blind_and_a_missing_time_is_now() -> None:
    (event,) = parse(
        preferences(preference(" STOP ", category="Marketing_Messages", timestamp=None))
    )
    assert isinstance(event, MarketingPreference)
    assert event.opted_out is True and event.occurred_at == NOW


@pytest.mark.parametrize(
    "item",
    [
        preference("pause"),  # an unknown value
        preference(None),
        preference("stop", category="utility_messages"),  # another category
        preference("stop", category=None),
        preference("stop", wa_id=None),  # no phone
        preference("stop", wa_id="not a number"),
        preference({"stop": True}),
        "stop",  # not an object
        None,
    ],
)
def test_malformed_preferences_are_skipped_with_a_warning(
    item: Any, caplog: pytest.LogCaptureFixture
) -> None:
    good = preference("stop", wa_id="34600111222")
    with caplog.at_level(logging.WARNING, logger="waapp.providers"):
        events = parse(preferences(item, good))
    assert [e.phone for e in events if isinstance(e, MarketingPreference)] == ["+34600111222"]
    assert len(events) == 1
    if isinstance(item, dict):
        assert "meta webhook" in caplog.text


@pytest.mark.parametrize(
    "value",
    [
        {"contacts": CONTACTS},  # no user_preferences at all
        {"contacts": CONTACTS, "user_preferences": "stop"},
        {"contacts": CONTACTS, "user_preferences": {"value": "stop"}},
    ],
)
def test_a_change_without_a_preference_list_gives_nothing(value: dict[str, Any]) -> None:
    assert parse(envelope(value, field="user_preferences")) == []


def test_a_change_whose_value_is_not_an_object_gives_nothing() -> None:
    payload = preferences(preference("stop"))
    payload["entry"][0]["changes"][0]["value"] = "stop"
    assert parse(payload) == []


def test_preferences_and_messages_in_one_delivery_are_both_read() -> None:
    payload = preferences(preference("stop"))
    payload["entry"][0]["changes"].append(
        envelope(
            {
                "messages": [
                    {
                        "from": "16505551234",
                        "id": "wamid.in",
                        "timestamp": "1731705700",
                        "type": "text",
                        "text": {"body": "hello"},
                    }
                ]
            }
        )["entry"][0]["changes"][0]
    )
    kinds = [type(event).__name__ for event in parse(payload)]
    assert kinds == ["MarketingPreference", "InboundText"]
