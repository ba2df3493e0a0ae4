"""The preflight: exactly what a campaign will do, before anything is written or sent.

It plans the recipients with the same :func:`~waapp.services.campaigns.planning.plan_messages`
that :meth:`CampaignService.start` freezes them with, so what the preflight says is what
start does (at the moment of the check: a contact may write in, or opt out, meanwhile).

Problems come in two kinds: **blocking** ones (nothing would be sent, or the provider would
refuse everything: no recipients, a template that is not approved, a placeholder without a
value source, an account that cannot be used) and **warnings** (some recipients are
skipped, the daily tier is smaller than the audience, the template's quality is low…).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from waapp.core.catalogue import Dialect, lookup
from waapp.core.entities import (
    AccountKind,
    Campaign,
    Contact,
    MissedSchedulePolicy,
    PlaceholderFormat,
    Route,
    Template,
    TemplateKind,
    WindowPolicy,
)
from waapp.core.errors import WaappError
from waapp.core.phones import display_phone, normalize_phone
from waapp.core.ports import HealthReport, Provider
from waapp.core.templates import (
    Placeholders,
    VariableSource,
    mapping_from_dict,
    parse_placeholders,
    validate_mapping,
)
from waapp.core.window import in_service_window, window_applies
from waapp.services.campaigns.limits import Pacing, daily_limit, estimate_seconds, warmup_day
from waapp.services.campaigns.planning import plan_messages, text_for
from waapp.store.campaigns import CampaignRepository
from waapp.store.database import Database
from waapp.store.worker import DatabaseWorker

__all__ = [
    "LIST_CAP",
    "CampaignDraft",
    "PeopleList",
    "Person",
    "PreflightReport",
    "TemplateInfo",
    "TestSendOutcome",
    "daily_limit",
    "duration_text",
    "effective_policy",
    "run_preflight",
    "send_test",
]

#: How many people each list of the report names; the count is always complete.
LIST_CAP = 100


@dataclass(slots=True)
class CampaignDraft:
    """What the wizard collects; :meth:`CampaignService.create` takes the same fields.

    ``rate`` is messages per second (None: the provider's default pace); ``jitter`` (the
    random wait before each send, ``(min, max)`` seconds), ``hourly_cap`` and ``warmup`` are
    the gateway pacing (None: the account's default; see ``limits.Pacing``).
    ``scheduled_at`` None means "now".
    """

    name: str
    account_id: int
    group_ids: list[int]
    template_id: int | None = None
    freeform_template_id: int | None = None
    #: placeholder → {"field": name} or {"text": fixed}; one mapping for both messages
    variable_mapping: dict[str, dict[str, str]] = field(default_factory=dict)
    window_policy: WindowPolicy | None = None
    exclude_opted_out: bool = True
    rate: float | None = None
    scheduled_at: datetime | None = None
    missed_schedule_policy: MissedSchedulePolicy = MissedSchedulePolicy.ASK
    missed_after_hours: int = 6
    jitter: tuple[float, float] | None = None
    hourly_cap: int | None = None
    warmup: bool | None = None

    @property
    def policy(self) -> WindowPolicy:
        return effective_policy(self.window_policy, self.template_id, self.freeform_template_id)

    def pacing(self) -> dict[str, Any]:
        """The campaign's ``pacing`` settings: only the keys set (empty: the provider's
        default pace)."""
        pacing: dict[str, Any] = {}
        if self.rate is not None:
            pacing["rate"] = float(self.rate)
        if self.jitter is not None:
            pacing["jitter"] = [float(self.jitter[0]), float(self.jitter[1])]
        if self.hourly_cap is not None:
            pacing["hourly_cap"] = int(self.hourly_cap)
        if self.warmup is not None:
            pacing["warmup"] = bool(self.warmup)
        return pacing

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignDraft:
        """The draft a saved campaign was made from (to edit it)."""
        pacing = campaign.pacing
        jitter = pacing.get("jitter")
        return cls(
            name=campaign.name,
            account_id=campaign.account_id,
            group_ids=[int(g) for g in campaign.audience.get("group_ids", [])],
            template_id=campaign.template_id,
            freeform_template_id=campaign.freeform_template_id,
            variable_mapping={k: dict(v) for k, v in campaign.variable_mapping.items()},
            window_policy=campaign.window_policy,
            exclude_opted_out=bool(campaign.audience.get("exclude_opted_out", True)),
            rate=float(pacing["rate"]) if pacing.get("rate") else None,
            scheduled_at=campaign.scheduled_at,
            missed_schedule_policy=campaign.missed_schedule_policy,
            missed_after_hours=campaign.missed_after_hours,
            jitter=None if jitter is None else (float(jitter[0]), float(jitter[1])),
            hourly_cap=None if pacing.get("hourly_cap") is None else int(pacing["hourly_cap"]),
            warmup=None if pacing.get("warmup") is None else bool(pacing["warmup"]),
        )


def effective_policy(
    policy: WindowPolicy | None, template_id: int | None, freeform_id: int | None
) -> WindowPolicy:
    """The window policy a campaign gets when none is chosen (as ``create`` decides it)."""
    if policy is not None:
        return policy
    if freeform_id is None:
        return WindowPolicy.TEMPLATE_ONLY
    if template_id is not None:
        return WindowPolicy.FREEFORM_IN_WINDOW
    return WindowPolicy.FREEFORM_ONLY


@dataclass(frozen=True, slots=True)
class Person:
    name: str
    phone: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class PeopleList:
    """``count`` people, the first :data:`LIST_CAP` of them named."""

    count: int = 0
    people: tuple[Person, ...] = ()

    @property
    def unnamed(self) -> int:
        return self.count - len(self.people)


@dataclass(frozen=True, slots=True)
class TemplateInfo:
    name: str
    language: str
    status: str  # as the provider says: APPROVED, PENDING, …
    quality: str  # GREEN / YELLOW / RED / UNKNOWN / ""

    @property
    def approved(self) -> bool:
        return self.status.upper() == "APPROVED"


@dataclass(frozen=True, slots=True)
class PreflightReport:
    #: contacts in the chosen groups, each once
    audience: int
    #: recipients that will get a message
    to_send: int
    freeform: int  # … of which the free-form message
    template: int  # … of which the approved template
    #: recipients with a usable number (and not opted out when they are excluded), by window
    in_window: int
    out_of_window: int
    invalid: PeopleList
    opted_out: PeopleList  # skipped because they opted out
    opted_out_included: PeopleList  # opted out but written to (the box was unchecked)
    duplicates: PeopleList  # in more than one chosen group (or sharing a number): once
    window_skipped: PeopleList  # skipped by the window policy
    unrenderable: PeopleList  # a value empty or refused for them: skipped
    routing: tuple[str, ...]  # what each kind of recipient gets, in plain words
    placeholders: tuple[str, ...]
    unmapped: tuple[str, ...]
    template_info: TemplateInfo | None
    freeform_name: str | None
    #: messages per second, and whether it is the provider's default
    rate: float
    rate_is_default: bool
    messaging_limit: str | None  # the tier from the last health check (TIER_1K …)
    daily_limit: int | None  # new people per 24 h, None when unknown or unlimited
    starts_at: datetime
    seconds: float
    finishes_at: datetime
    blocking: tuple[str, ...]
    warnings: tuple[str, ...]
    #: whether the provider has the 24-hour window at all (not a WhatsApp-Web gateway)
    window_applies: bool = True

    @property
    def ok(self) -> bool:
        """Nothing blocks the campaign."""
        return not self.blocking

    @property
    def duration(self) -> str:
        return duration_text(self.seconds)


def duration_text(seconds: float) -> str:
    """“under a minute”, “about 4 minutes”, “about 1 h 25 min”, “about 2 days 3 h”."""
    if seconds < 60:
        return "under a minute"
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return f"about {minutes} minute{'s' if minutes != 1 else ''}"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"about {hours} h {minutes} min" if minutes else f"about {hours} h"
    days, hours = divmod(hours, 24)
    return f"about {days} day{'s' if days != 1 else ''}" + (f" {hours} h" if hours else "")


def _people(items: Sequence[Person]) -> PeopleList:
    return PeopleList(len(items), tuple(items[:LIST_CAP]))


def _who(contact: Contact) -> Person:
    return Person(contact.name.strip(), contact.phone_e164)


ProviderFor = Callable[[int], Awaitable[Provider]]


async def run_preflight(
    draft: CampaignDraft,
    *,
    db: Database,
    worker: DatabaseWorker,
    repo: CampaignRepository,
    provider_for: ProviderFor,
    health: HealthReport | None = None,
    now: datetime | None = None,
) -> PreflightReport:
    """Read what the campaign needs and :func:`assess` it; writes nothing, sends nothing.

    ``health`` is the account's last health check, when there is one (its messaging limit
    and whether the account works).
    """
    now = now or datetime.now(UTC)
    blocking: list[str] = []

    async def template(ref: int | None) -> Template | None:
        if ref is None:
            return None
        try:
            return await worker.run(db.templates.get, ref)
        except WaappError:
            blocking.append("The chosen message no longer exists; choose another.")
            return None

    approved = await template(draft.template_id)
    freeform = await template(draft.freeform_template_id)
    group_ids = list(dict.fromkeys(draft.group_ids))
    audience = await worker.run(repo.audience, group_ids)
    memberships: Counter[int] = Counter()
    if len(group_ids) > 1:  # who is in more than one of the chosen groups
        for group_id in group_ids:
            memberships.update(c.id for c in await worker.run(repo.audience, [group_id]) if c.id)
    fields = await worker.run(db.contacts.field_names)
    provider: Provider | None = None
    try:
        provider = await provider_for(draft.account_id)
    except WaappError as error:
        blocking.append(f"The account cannot be used: {error.message}")
    # The warm-up counts days from the account's first send through waapp.
    first_send = await worker.run(repo.first_send, draft.account_id)
    return assess(
        draft,
        audience=audience,
        memberships=memberships,
        template=approved,
        freeform=freeform,
        field_names=fields,
        provider=provider,
        health=health,
        now=now,
        blocking=blocking,
        first_send=first_send,
    )


def assess(
    draft: CampaignDraft,
    *,
    audience: Sequence[Contact],
    memberships: Counter[int],
    template: Template | None,
    freeform: Template | None,
    field_names: Sequence[str],
    provider: Provider | None,
    health: HealthReport | None,
    now: datetime,
    blocking: list[str] | None = None,
    first_send: datetime | None = None,
) -> PreflightReport:
    """The report for ``draft`` over ``audience`` (pure; see :func:`run_preflight`).

    ``first_send``: the account's first send through waapp (its warm-up day 0). The
    finish time counts the pace with its random waits, the hourly cap and the daily people
    caps (tier, warm-up) as the engine holds at them."""
    blocking = list(blocking or [])
    warnings: list[str] = []
    policy = draft.policy

    # --- the message ----------------------------------------------------------------------
    if draft.template_id is None and draft.freeform_template_id is None:
        blocking.append("Choose an approved template or a free-form message.")
    template_info = None
    if template is not None:
        template_info = TemplateInfo(
            template.name, template.language, template.status, template.quality
        )
        if template.kind is not TemplateKind.APPROVED:
            blocking.append(f"“{template.name}” is not an approved WhatsApp template.")
        elif not template_info.approved:
            blocking.append(
                f"The template “{template.name}” is {template.status or 'not approved'}: "
                "WhatsApp refuses it until it is approved. Choose an approved template, or "
                "wait for its approval and sync the templates again."
            )
        quality = template.quality.upper()
        if quality == "RED":
            warnings.append(
                f"The template “{template.name}” has low quality (red): people have been "
                "blocking or reporting it, and WhatsApp may pause it during the campaign."
            )
        elif quality == "YELLOW":
            warnings.append(
                f"The template “{template.name}” has medium quality (yellow): watch it; "
                "WhatsApp pauses templates whose quality keeps dropping."
            )
    if freeform is not None and freeform.kind is not TemplateKind.FREEFORM:
        blocking.append(f"“{freeform.name}” is not a free-form message.")

    names: list[str] = []
    for message in (template, freeform):
        if message is None:
            continue
        try:
            names.extend(n for n in parse_placeholders(message.body).names if n not in names)
        except WaappError as error:
            blocking.append(f"“{message.name}”: {error.message}")
    try:
        mapping = mapping_from_dict(draft.variable_mapping)
    except WaappError as error:
        blocking.append(error.message)
        mapping = {}
    unmapped = tuple(n for n in names if n not in mapping)
    if unmapped:
        shown = ", ".join("{{" + n + "}}" for n in unmapped)
        blocking.append(
            f"{shown} {'has' if len(unmapped) == 1 else 'have'} no value: map each "
            "placeholder to a contact field or fixed text."
        )
    used = {n: s for n, s in mapping.items() if n in names}
    for problem in _mapping_problems(names, used, field_names):
        blocking.append(problem[:1].upper() + problem[1:] + ".")

    # --- the recipients -------------------------------------------------------------------
    window = window_applies(provider.dialect if provider is not None else None)
    planned = plan_messages(
        audience,
        mapping=used,
        template=template,
        freeform=freeform,
        policy=policy,
        exclude_opted_out=draft.exclude_opted_out,
        now=now,
        window=window,
    )
    by_id = {c.id: c for c in audience}
    by_phone = {c.phone_e164: c for c in audience}
    invalid: list[Person] = []
    opted_out: list[Person] = []
    window_skipped: list[Person] = []
    unrenderable: list[Person] = []
    routes: Counter[Route] = Counter()
    in_window = out_of_window = 0
    for plan in planned:
        contact = by_id.get(plan.contact_id) or by_phone[plan.phone_e164]
        reason = plan.skipped_reason
        person = Person(contact.name.strip(), plan.phone_e164, reason or "")
        if reason is not None and reason.startswith("invalid number"):
            invalid.append(person)
            continue
        if reason is not None and reason.startswith("opted out"):
            opted_out.append(person)
            continue
        if not window or in_service_window(contact.last_inbound_at, now):
            in_window += 1
        else:
            out_of_window += 1
        if reason is None:
            routes[plan.route] += 1
        elif reason.startswith(("cannot be rendered", "cannot be sent")):
            unrenderable.append(person)
        else:
            window_skipped.append(person)
    planned_phones = Counter(c.phone_e164 for c in audience)
    duplicates = [
        Person(c.name.strip(), c.phone_e164, f"in {memberships[c.id]} of the chosen groups")
        for c in audience
        if c.id is not None and memberships[c.id] > 1
    ]
    duplicates += [
        Person(c.name.strip(), c.phone_e164, "shares its number with another contact")
        for c in audience
        if planned_phones[c.phone_e164] > 1 and by_phone[c.phone_e164] is not c
    ]
    included = (
        []
        if draft.exclude_opted_out
        else [_who(c) for c in audience if c.opted_out and c.phone_e164 in _valid(planned)]
    )
    to_send = routes[Route.FREEFORM] + routes[Route.TEMPLATE]

    if not audience:
        blocking.append("The chosen groups have no contacts.")
    elif to_send == 0 and not unmapped:
        blocking.append("No recipient would get a message: every one of them is skipped.")
    if invalid:
        warnings.append(f"{_n(len(invalid), 'number is', 'numbers are')} invalid and skipped.")
    if opted_out:
        warnings.append(f"{_n(len(opted_out), 'contact has', 'contacts have')} opted out: skipped.")
    if included:
        warnings.append(
            f"{_n(len(included), 'opted-out contact', 'opted-out contacts')} will be written "
            "to although they asked not to be: this can get the number blocked."
        )
    if window_skipped:
        warnings.append(
            f"{_n(len(window_skipped), 'recipient is', 'recipients are')} skipped by the "
            "24-hour window policy."
        )
    if unrenderable and not unmapped:
        warnings.append(
            f"{_n(len(unrenderable), 'recipient is', 'recipients are')} skipped: a variable "
            "is empty or not allowed for them."
        )

    # --- the account, the quota and the time it takes -------------------------------------
    if health is not None and not health.ok:
        blocking.append(f"The account's last check failed: {health.summary}")
    tier = (health.details.get("messaging_limit") or None) if health is not None else None
    limit = daily_limit(tier)
    try:
        pacing = (
            Pacing.for_account(provider.kind, provider.dialect, draft.pacing())
            if provider is not None
            else Pacing.for_account(AccountKind.META, Dialect.META, draft.pacing())
        )
    except (TypeError, ValueError) as error:
        blocking.append(f"The pace is not valid: {error}.")
        pacing = Pacing(1.0, 1)
    rate, rate_is_default = pacing.rate, draft.rate is None or draft.rate <= 0
    if provider is None and rate_is_default:
        rate, pacing = 1.0, Pacing(1.0, 1)  # no account: no pace to speak of
    starts_at = draft.scheduled_at or now
    day = warmup_day(first_send, now)
    seconds = estimate_seconds(to_send, pacing, tier_limit=limit, day=day)
    if pacing.gateway_like and to_send:
        warnings.append(
            f"Sending is paced to protect the number from a ban: {pacing.describe()}. "
            f"The finish time counts these waits ({duration_text(seconds)} in all)."
        )
    cap = pacing.daily_cap(limit, day)
    if cap is not None and to_send > cap:
        days = math.ceil(seconds / 86400.0) if seconds > 86400.0 else 2
        if limit is not None and cap == limit:
            why = f"The number may message {limit:,} new people per 24 hours"
        else:
            why = (
                f"The number is new and warms up: it may message {cap:,} people in these "
                "24 hours, more day by day"
            )
        warnings.append(
            f"{why} and the campaign has {to_send:,} recipients: waapp sends to as many as "
            "fit and holds the rest until the 24-hour window has room again (people messaged "
            f"in the last 24 hours count too), so expect it to take about {days} days."
        )
    if draft.scheduled_at is not None and draft.scheduled_at < now - timedelta(minutes=1):
        warnings.append("The scheduled time is in the past: the campaign would start at once.")

    return PreflightReport(
        audience=len(audience),
        to_send=to_send,
        freeform=routes[Route.FREEFORM],
        template=routes[Route.TEMPLATE],
        in_window=in_window,
        out_of_window=out_of_window,
        invalid=_people(invalid),
        opted_out=_people(opted_out),
        opted_out_included=_people(included),
        duplicates=_people(duplicates),
        window_skipped=_people(window_skipped),
        unrenderable=_people(unrenderable),
        routing=_routing(policy, routes, template, freeform, len(window_skipped), window=window),
        placeholders=tuple(names),
        unmapped=unmapped,
        template_info=template_info,
        freeform_name=None if freeform is None else freeform.name,
        rate=rate,
        rate_is_default=rate_is_default,
        messaging_limit=tier,
        daily_limit=limit,
        starts_at=starts_at,
        seconds=seconds,
        finishes_at=starts_at + timedelta(seconds=seconds),
        blocking=tuple(blocking),
        warnings=tuple(warnings),
        window_applies=window,
    )


def _valid(planned: Sequence[Any]) -> set[str]:
    return {
        p.phone_e164
        for p in planned
        if p.skipped_reason is None or not p.skipped_reason.startswith("invalid number")
    }


def _mapping_problems(
    names: Sequence[str], mapping: dict[str, VariableSource], field_names: Sequence[str]
) -> list[str]:
    """Problems with the sources of the mapped placeholders (an unmapped one is reported
    on its own)."""
    mapped = tuple(n for n in names if n in mapping)
    return validate_mapping(
        Placeholders(mapped, PlaceholderFormat.NAMED), mapping, available_fields=field_names
    )


def _routing(
    policy: WindowPolicy,
    routes: Counter[Route],
    template: Template | None,
    freeform: Template | None,
    skipped: int,
    *,
    window: bool = True,
) -> tuple[str, ...]:
    lines: list[str] = []
    if routes[Route.FREEFORM] and freeform is not None:
        where = (
            " inside the 24-hour window"
            if window
            else " (WhatsApp Web has no 24-hour window: everyone can get it)"
        )
        lines.append(
            f"{_n(routes[Route.FREEFORM], 'recipient', 'recipients')}{where} get the "
            f"free-form message “{freeform.name}”."
        )
    if routes[Route.TEMPLATE] and template is not None:
        where = {
            WindowPolicy.TEMPLATE_ONLY: "",
            WindowPolicy.FREEFORM_IN_WINDOW: " (outside the 24-hour window)",
            WindowPolicy.FREEFORM_ONLY: "",
        }[policy]
        lines.append(
            f"{_n(routes[Route.TEMPLATE], 'recipient', 'recipients')}{where} get the "
            f"approved template “{template.name}”."
        )
    if skipped:
        lines.append(
            f"{_n(skipped, 'recipient', 'recipients')} outside the 24-hour window get nothing: "
            "WhatsApp accepts only an approved template there, and the campaign sends them none."
        )
    return tuple(lines)


def _n(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


@dataclass(frozen=True, slots=True)
class TestSendOutcome:
    """What a test send did, in plain words.

    ``sent``: the provider accepted it. ``text``: the message as rendered for that number
    (empty when nothing could be rendered). ``what_to_do``: advice when it was not sent.
    """

    sent: bool
    summary: str
    text: str = ""
    what_to_do: str = ""
    provider_message_id: str | None = None


_E164_LOOSE = re.compile(r"^\+[1-9]\d{6,14}$")


async def send_test(
    draft: CampaignDraft,
    phone: str,
    *,
    db: Database,
    worker: DatabaseWorker,
    repo: CampaignRepository,
    provider_for: ProviderFor,
    now: datetime | None = None,
) -> TestSendOutcome:
    """Render the campaign's real message for ``phone`` and send it through the provider now.

    The values are those of the contact with that number, or else of the first contact of
    the audience (with ``phone`` as its number), so the test shows what recipients get. The
    route follows the window policy as for a recipient (a number that never wrote is outside
    the window). Nothing is written; a refusal is an outcome, not an exception.
    """
    now = now or datetime.now(UTC)
    typed = re.sub(r"[\s().-]", "", phone)
    if _E164_LOOSE.match(typed):
        e164 = typed
    else:
        # services.contacts.DEFAULT_REGION_KEY (not imported: that module is outside mypy's list)
        region = await worker.run(db.settings.get, "default_region", None)
        result = normalize_phone(phone, region if isinstance(region, str) else None)
        if result.e164 is None:
            return TestSendOutcome(
                False,
                f"“{phone}” is not a phone number waapp can send to: {result.reason}.",
                what_to_do="Write the number with its country code, such as +44 7700 900123.",
            )
        e164 = result.e164
    contact = await worker.run(db.contacts.find_by_phone, e164)
    if contact is None:
        audience = await worker.run(repo.audience, list(draft.group_ids))
        base = audience[0] if audience else Contact(phone_e164=e164, name="Test")
        contact = Contact(phone_e164=e164, name=base.name, fields=dict(base.fields))

    async def message(ref: int | None) -> Template | None:
        return None if ref is None else await worker.run(db.templates.get, ref)

    template = await message(draft.template_id)
    freeform = await message(draft.freeform_template_id)
    try:
        mapping = mapping_from_dict(draft.variable_mapping)
    except WaappError as error:
        return TestSendOutcome(False, error.message)
    try:
        provider = await provider_for(draft.account_id)
    except WaappError as error:
        return TestSendOutcome(False, error.message, "", error.what_to_do or "")
    plan = plan_messages(
        [contact],
        mapping=mapping,
        template=template,
        freeform=freeform,
        policy=draft.policy,
        exclude_opted_out=draft.exclude_opted_out,
        now=now,
        window=window_applies(provider.dialect),
    )[0]
    if plan.skipped_reason is not None:
        return TestSendOutcome(
            False,
            f"Nothing was sent: this recipient would be skipped ({plan.skipped_reason}).",
            what_to_do="Fix the message or its variables, or test with another number.",
        )
    main = template if plan.route is Route.TEMPLATE else freeform
    assert main is not None
    text = text_for(main.body, plan.variables)
    try:
        reference = f"test-{now.strftime('%Y%m%d%H%M%S%f')}"
        if plan.route is Route.TEMPLATE:
            names = parse_placeholders(main.body).names
            variables = {name: plan.variables[name] for name in names}
            sent = await provider.send_template(e164, main, variables, reference=reference)
        else:
            sent = await provider.send_text(e164, text, reference=reference)
    except WaappError as error:
        return TestSendOutcome(False, error.message, text, error.what_to_do or "")
    what = (
        f"the approved template “{main.name}”"
        if plan.route is Route.TEMPLATE
        else f"the free-form message “{main.name}”"
    )
    if sent.accepted:
        return TestSendOutcome(
            True,
            f"Sent {what} to {display_phone(e164)}. Check the phone in a few seconds.",
            text,
            provider_message_id=sent.provider_message_id,
        )
    refusal = sent.error
    if refusal is None:
        return TestSendOutcome(False, "The provider gave no answer we understand.", text)
    entry = lookup(provider.dialect, refusal.code)
    return TestSendOutcome(
        False,
        f"Not sent: {entry.title} ({refusal.code}). {entry.meaning}",
        text,
        entry.what_to_do,
    )
