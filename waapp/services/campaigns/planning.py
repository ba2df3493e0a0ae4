"""Freezing a campaign's recipients: who gets what, and who is skipped and why (pure).

Each recipient's variables are rendered once, when the campaign starts, with the
campaign's single variable mapping (placeholder → contact field or fixed text) for the
text of its route — and for the approved template too when it has one, so that a
free-form message refused outside the window (63016 / 131047) can be re-routed to the
template later without reading the contact again.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from waapp.core.entities import Contact, Route, Template, WindowPolicy
from waapp.core.errors import ValidationError
from waapp.core.templates import (
    VariableSource,
    check_variable_values,
    contact_values,
    parse_placeholders,
    render,
)
from waapp.core.window import in_service_window, route_for
from waapp.store.campaigns import PlannedMessage

__all__ = [
    "fits_template",
    "message_text",
    "plan_messages",
    "template_variables",
    "text_for",
]

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def plan_messages(
    audience: Sequence[Contact],
    *,
    mapping: dict[str, VariableSource],
    template: Template | None,
    freeform: Template | None,
    policy: WindowPolicy,
    exclude_opted_out: bool,
    now: datetime,
    window: bool = True,
) -> list[PlannedMessage]:
    """One :class:`PlannedMessage` per distinct phone number of ``audience``, in order.

    ``window``: whether the provider enforces the 24-hour window (``core.window.window_applies``);
    without it everyone is treated as inside."""
    planned: list[PlannedMessage] = []
    seen: set[str] = set()
    for contact in audience:
        phone = contact.phone_e164
        if phone in seen:  # the ledger holds each number once per campaign
            continue
        seen.add(phone)

        def skip(reason: str, route: Route = Route.TEMPLATE, c: Contact = contact) -> None:
            planned.append(PlannedMessage(c.id, c.phone_e164, route, {}, reason))

        if not _E164.match(phone):
            skip(f"invalid number: {phone!r} is not a number in international form")
            continue
        if exclude_opted_out and contact.opted_out:
            skip(f"opted out: {contact.opt_out_reason or 'the contact asked not to be written'}")
            continue
        decision = route_for(
            policy,
            in_window=not window or in_service_window(contact.last_inbound_at, now),
            has_template=template is not None,
            has_freeform=freeform is not None,
        )
        if decision.route is None:
            skip(decision.reason)
            continue
        route = decision.route
        main = template if route is Route.TEMPLATE else freeform
        assert main is not None
        values = contact_values(contact)
        label = contact.name or phone
        try:
            variables = dict(render(main.body, mapping, values, contact_label=label).variables)
        except ValidationError as error:
            skip(f"cannot be rendered: {error.message}", route)
            continue
        if route is Route.TEMPLATE:
            problems = check_variable_values(variables)
            if problems:
                skip(f"cannot be sent: {'; '.join(problems)}", route)
                continue
        elif template is not None:
            try:  # frozen too, for a re-route to the template
                extra = render(template.body, mapping, values, contact_label=label).variables
            except ValidationError:
                extra = {}
            for name, value in extra.items():
                variables.setdefault(name, value)
        planned.append(PlannedMessage(contact.id, phone, route, variables))
    return planned


def text_for(body: str, variables: Mapping[str, str]) -> str:
    """A free-form body filled with the frozen variables (ValidationError if one is missing)."""
    return render(body, {k: VariableSource(text=v) for k, v in variables.items()}, {}).text


@functools.lru_cache(maxsize=64)
def _names(body: str) -> tuple[str, ...]:
    return tuple(parse_placeholders(body).names)


def template_variables(template: Template, variables: Mapping[str, str]) -> dict[str, str]:
    """The row's frozen variables the template's placeholders use, as its send names them
    (KeyError when one is missing: the row was frozen for the other route only)."""
    return {name: variables[name] for name in _names(template.body)}


def fits_template(template: Template, variables: Mapping[str, str]) -> bool:
    """Whether the frozen variables fill every placeholder of ``template``."""
    return all(name in variables for name in _names(template.body))


def message_text(
    route: Route,
    variables: Mapping[str, str],
    *,
    template: Template | None,
    freeform: Template | None,
) -> str:
    """The text a row sends on ``route``: the free-form body, or the approved template's
    body, filled with the row's frozen variables — what the engine sends and what
    reconciliation compares with the provider's copy. ValidationError (a variable
    missing) or KeyError (the route's template unknown, or a template variable missing)
    when it cannot be rendered."""
    if route is Route.TEMPLATE:
        if template is None:
            raise KeyError("the campaign has no template")
        return text_for(template.body, template_variables(template, variables))
    if freeform is None:
        raise KeyError("the campaign has no free-form message")
    return text_for(freeform.body, dict(variables))
