"""The 24-hour customer-service window, and which kind of message a recipient gets.

WhatsApp accepts free-form messages only within 24 hours of the contact's last inbound
message; outside it only approved templates may be sent (Twilio 63016, providers.md §1.3).
A WhatsApp-Web gateway (WaSender) sends as a person does: it has no window and no templates,
so for it everyone counts as inside the window (:func:`window_applies`) and the free-form
message goes to everyone the campaign's policy would send it to inside.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import assert_never

from waapp.core.catalogue import Dialect
from waapp.core.entities import Route, WindowPolicy

SERVICE_WINDOW = timedelta(hours=24)

_NO_TEMPLATE = "the campaign has no approved template"
_NO_FREEFORM = "the campaign has no free-form message"


def _require_aware(value: datetime, name: str) -> None:
    # A naive datetime is ambiguous by hours, which is all the window is about.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


def window_applies(dialect: Dialect | None) -> bool:
    """Whether the provider enforces the 24-hour window (not a WhatsApp-Web gateway).
    ``None`` (the provider is not known) keeps the window: the safe side."""
    return dialect is not Dialect.WASENDER


def in_service_window(last_inbound_at: datetime | None, now: datetime) -> bool:
    """True while ``now`` is less than 24 h after ``last_inbound_at``.

    ``None`` (the contact never wrote) → False. Exactly 24 h after → closed. An inbound time
    in the future (clock skew) counts as open. Both datetimes must be timezone-aware
    (``ValueError`` otherwise), ``now`` even when ``last_inbound_at`` is ``None``.
    """
    _require_aware(now, "now")
    if last_inbound_at is None:
        return False
    _require_aware(last_inbound_at, "last_inbound_at")
    return now - last_inbound_at < SERVICE_WINDOW


def window_closes_at(last_inbound_at: datetime | None) -> datetime | None:
    """The first moment the window is closed again; ``None`` when it never opened.

    ``ValueError`` for a naive datetime.
    """
    if last_inbound_at is None:
        return None
    _require_aware(last_inbound_at, "last_inbound_at")
    return last_inbound_at + SERVICE_WINDOW


@dataclass(frozen=True, slots=True)
class RouteDecision:
    """What one recipient gets: ``route`` (``None`` = skipped) and why, in plain language."""

    route: Route | None
    reason: str

    @property
    def skipped(self) -> bool:
        return self.route is None


def route_for(
    policy: WindowPolicy, *, in_window: bool, has_template: bool, has_freeform: bool
) -> RouteDecision:
    """Decide the route for one recipient under ``policy``.

    * ``TEMPLATE_ONLY``: the approved template, whether or not the window is open.
    * ``FREEFORM_IN_WINDOW``: inside the window the free-form message (the template when the
      campaign has none); outside it the template.
    * ``FREEFORM_ONLY``: inside the window the free-form message; outside, skipped.

    Whatever cannot be sent is skipped with the reason the preflight and report show.
    """
    if policy is WindowPolicy.TEMPLATE_ONLY:
        if has_template:
            return RouteDecision(Route.TEMPLATE, "the campaign sends its approved template")
        return RouteDecision(None, _NO_TEMPLATE)

    if policy is WindowPolicy.FREEFORM_IN_WINDOW:
        if in_window:
            if has_freeform:
                return RouteDecision(Route.FREEFORM, "inside the 24-hour window: free-form")
            if has_template:
                return RouteDecision(
                    Route.TEMPLATE,
                    "inside the 24-hour window, but the campaign has no free-form message: "
                    "approved template",
                )
            return RouteDecision(
                None, "the campaign has neither a free-form message nor an approved template"
            )
        if has_template:
            return RouteDecision(Route.TEMPLATE, "outside the 24-hour window: approved template")
        return RouteDecision(None, f"outside the 24-hour window and {_NO_TEMPLATE}")

    if policy is WindowPolicy.FREEFORM_ONLY:
        if not in_window:
            return RouteDecision(
                None, "outside the 24-hour window, and the campaign sends free-form messages only"
            )
        if has_freeform:
            return RouteDecision(Route.FREEFORM, "inside the 24-hour window: free-form")
        return RouteDecision(None, _NO_FREEFORM)
    assert_never(policy)
