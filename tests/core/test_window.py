"""The 24-hour customer-service window and the route each policy gives a recipient."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta, timezone

import pytest

from waapp.core.catalogue import Dialect
from waapp.core.entities import Route, WindowPolicy
from waapp.core.window import (
    SERVICE_WINDOW,
    RouteDecision,
    in_service_window,
    route_for,
    window_applies,
    window_closes_at,
)

INBOUND = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_service_window_is_24_hours() -> None:
    assert timedelta(hours=24) == SERVICE_WINDOW


@pytest.mark.parametrize(
    ("elapsed", "open_"),
    [
        (timedelta(0), True),
        (timedelta(hours=1), True),
        (timedelta(hours=23, minutes=59, seconds=59), True),
        (timedelta(hours=23, minutes=59, seconds=59, microseconds=999_999), True),
        (timedelta(hours=24), False),
        (timedelta(hours=24, microseconds=1), False),
        (timedelta(days=3), False),
        (timedelta(minutes=-5), True),  # inbound stamped slightly in the future: clock skew
    ],
)
def test_window_boundaries(elapsed: timedelta, open_: bool) -> None:
    assert in_service_window(INBOUND, INBOUND + elapsed) is open_


def test_never_wrote_means_closed() -> None:
    assert in_service_window(None, INBOUND) is False
    assert window_closes_at(None) is None


def test_other_time_zones_compare_by_instant() -> None:
    kolkata = timezone(timedelta(hours=5, minutes=30))
    now = (INBOUND + timedelta(hours=23, minutes=59, seconds=59)).astimezone(kolkata)
    assert in_service_window(INBOUND, now)
    assert not in_service_window(INBOUND, now + timedelta(seconds=1))


def test_window_closes_at() -> None:
    assert window_closes_at(INBOUND) == datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    closes = window_closes_at(INBOUND)
    assert closes is not None
    assert not in_service_window(INBOUND, closes)


@pytest.mark.parametrize(
    ("last", "now"),
    [
        (datetime(2026, 3, 1, 9, 30), INBOUND),
        (INBOUND, datetime(2026, 3, 1, 9, 30)),
        (None, datetime(2026, 3, 1, 9, 30)),
    ],
)
def test_naive_datetimes_are_refused(last: datetime | None, now: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        in_service_window(last, now)


def test_window_closes_at_refuses_naive() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        window_closes_at(datetime(2026, 3, 1, 9, 30))


# --- routing -----------------------------------------------------------------------------

T, F = Route.TEMPLATE, Route.FREEFORM
SKIP = None

# (policy, in_window, has_template, has_freeform) → route; every combination is listed.
ROUTES: dict[tuple[WindowPolicy, bool, bool, bool], Route | None] = {
    (WindowPolicy.TEMPLATE_ONLY, True, True, True): T,
    (WindowPolicy.TEMPLATE_ONLY, True, True, False): T,
    (WindowPolicy.TEMPLATE_ONLY, True, False, True): SKIP,
    (WindowPolicy.TEMPLATE_ONLY, True, False, False): SKIP,
    (WindowPolicy.TEMPLATE_ONLY, False, True, True): T,
    (WindowPolicy.TEMPLATE_ONLY, False, True, False): T,
    (WindowPolicy.TEMPLATE_ONLY, False, False, True): SKIP,
    (WindowPolicy.TEMPLATE_ONLY, False, False, False): SKIP,
    (WindowPolicy.FREEFORM_IN_WINDOW, True, True, True): F,
    (WindowPolicy.FREEFORM_IN_WINDOW, True, True, False): T,
    (WindowPolicy.FREEFORM_IN_WINDOW, True, False, True): F,
    (WindowPolicy.FREEFORM_IN_WINDOW, True, False, False): SKIP,
    (WindowPolicy.FREEFORM_IN_WINDOW, False, True, True): T,
    (WindowPolicy.FREEFORM_IN_WINDOW, False, True, False): T,
    (WindowPolicy.FREEFORM_IN_WINDOW, False, False, True): SKIP,
    (WindowPolicy.FREEFORM_IN_WINDOW, False, False, False): SKIP,
    (WindowPolicy.FREEFORM_ONLY, True, True, True): F,
    (WindowPolicy.FREEFORM_ONLY, True, True, False): SKIP,
    (WindowPolicy.FREEFORM_ONLY, True, False, True): F,
    (WindowPolicy.FREEFORM_ONLY, True, False, False): SKIP,
    (WindowPolicy.FREEFORM_ONLY, False, True, True): SKIP,
    (WindowPolicy.FREEFORM_ONLY, False, True, False): SKIP,
    (WindowPolicy.FREEFORM_ONLY, False, False, True): SKIP,
    (WindowPolicy.FREEFORM_ONLY, False, False, False): SKIP,
}


def test_route_table_is_complete() -> None:
    combos = set(itertools.product(WindowPolicy, (True, False), (True, False), (True, False)))
    assert set(ROUTES) == combos


@pytest.mark.parametrize(("case", "expected"), list(ROUTES.items()), ids=str)
def test_route_for(case: tuple[WindowPolicy, bool, bool, bool], expected: Route | None) -> None:
    policy, in_window, has_template, has_freeform = case
    decision = route_for(
        policy, in_window=in_window, has_template=has_template, has_freeform=has_freeform
    )
    assert decision.route == expected
    assert decision.skipped is (expected is None)
    assert decision.reason  # every decision, sent or skipped, says why


def test_skip_reasons_are_specific() -> None:
    outside_no_template = route_for(
        WindowPolicy.FREEFORM_IN_WINDOW, in_window=False, has_template=False, has_freeform=True
    )
    assert outside_no_template == RouteDecision(
        None, "outside the 24-hour window and the campaign has no approved template"
    )
    no_template = route_for(
        WindowPolicy.TEMPLATE_ONLY, in_window=True, has_template=False, has_freeform=True
    )
    assert "no approved template" in no_template.reason
    freeform_only_outside = route_for(
        WindowPolicy.FREEFORM_ONLY, in_window=False, has_template=True, has_freeform=True
    )
    assert "outside the 24-hour window" in freeform_only_outside.reason
    assert "free-form messages only" in freeform_only_outside.reason
    freeform_only_missing = route_for(
        WindowPolicy.FREEFORM_ONLY, in_window=True, has_template=True, has_freeform=False
    )
    assert "no free-form message" in freeform_only_missing.reason


def test_only_a_whatsapp_web_gateway_has_no_window() -> None:
    assert window_applies(Dialect.META) and window_applies(Dialect.TWILIO)
    assert window_applies(None)  # provider not known: the safe side
    assert not window_applies(Dialect.WASENDER)
