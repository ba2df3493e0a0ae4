"""The preflight and the test send, on the real store against the in-process Sandbox."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.services.campaigns.harness import Rig, now, phone, rig
from waapp.core.entities import Contact, Template, TemplateKind, WindowPolicy
from waapp.core.ports import HealthReport
from waapp.services.campaigns.preflight import (
    CampaignDraft,
    daily_limit,
    duration_text,
)

ORDER_MAPPING = {"1": {"field": "first_name"}, "2": {"field": "order"}}


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


def mixed() -> list[Contact]:
    """Beside 20 plain contacts (+1415555 0000…0019, never wrote): two invalid numbers,
    one opted out, three who wrote an hour ago, one without an order."""
    return [
        Contact(phone_e164="12345", name="Bad Number", fields={"order": "#x"}),
        Contact(phone_e164="+0044", name="Worse Number", fields={"order": "#y"}),
        Contact(
            phone_e164=phone(900),
            name="Gone Away",
            fields={"order": "#9"},
            opted_out_at=now(),
            opt_out_reason="Replied STOP",
        ),
        *[
            Contact(
                phone_e164=phone(910 + i),
                name=f"Chatty {i}",
                fields={"order": f"#c{i}"},
                last_inbound_at=now() - timedelta(hours=1),
            )
            for i in range(3)
        ],
        Contact(phone_e164=phone(950), name="No Order"),
    ]


def draft(r: Rig, **changes: Any) -> CampaignDraft:
    base = CampaignDraft(
        name="Orders",
        account_id=r.account_id,
        group_ids=[r.group_id],
        template_id=r.template_id,
        variable_mapping=dict(ORDER_MAPPING),
    )
    return replace(base, **changes)


def test_counts_routes_and_reasons(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=20, extra_contacts=mixed()) as r:
            report = await r.service.preflight(
                draft(r, freeform_template_id=r.freeform_id, rate=10.0)
            )
            assert report.audience == 27
            assert report.invalid.count == 2
            assert {p.name for p in report.invalid.people} == {"Bad Number", "Worse Number"}
            assert report.opted_out.count == 1
            assert report.opted_out.people[0].name == "Gone Away"
            assert "Replied STOP" in report.opted_out.people[0].reason
            assert report.in_window == 3
            assert report.out_of_window == 21  # 20 plain + No Order
            assert report.freeform == 3  # the window is open: the free-form message
            assert report.template == 20  # the others: the template
            assert report.unrenderable.count == 1
            assert report.unrenderable.people[0].name == "No Order"
            assert "{{2}}" in report.unrenderable.people[0].reason
            assert report.to_send == 23
            assert report.duplicates.count == 0
            assert report.ok, report.blocking
            assert any("invalid" in w for w in report.warnings)
            assert any("opted out" in w for w in report.warnings)
            assert any("variable" in w for w in report.warnings)
            assert report.routing[0].startswith("3 recipients inside the 24-hour window")
            assert "order_update" in report.routing[1]
            assert report.template_info is not None and report.template_info.approved
            # 23 messages at 10 per second
            assert report.seconds == pytest.approx(2.3)
            assert report.finishes_at - report.starts_at == timedelta(seconds=2.3)
            assert not report.rate_is_default

            # The same recipients, started: the preflight said exactly what start does.
            created = await r.service.create(
                name="Orders",
                account_id=r.account_id,
                group_ids=[r.group_id],
                template_id=r.template_id,
                freeform_template_id=r.freeform_id,
                variable_mapping=dict(ORDER_MAPPING),
            )
            assert created.id is not None
            await r.service.start(created.id)
            await r.service.wait(created.id)
            rows = await r.worker.run(r.service.repo.messages, created.id)
            assert sum(1 for m in rows if m.state != "skipped") == 23
            assert sum(1 for m in rows if m.route == "freeform" and m.state != "skipped") == 3

    run(body())


def test_free_form_only_skips_who_is_outside_the_window(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=5, extra_contacts=mixed()[3:6]) as r:
            report = await r.service.preflight(
                draft(
                    r,
                    template_id=None,
                    freeform_template_id=r.freeform_id,
                    window_policy=WindowPolicy.FREEFORM_ONLY,
                    variable_mapping={"1": {"field": "first_name"}},
                )
            )
            assert (report.in_window, report.out_of_window) == (3, 5)
            assert report.freeform == 3 and report.template == 0
            assert report.window_skipped.count == 5
            assert "outside the 24-hour window" in report.window_skipped.people[0].reason
            assert any("window policy" in w for w in report.warnings)
            assert report.ok

    run(body())


def test_duplicates_across_groups_and_the_opted_out_box(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=10, extra_contacts=mixed()[2:3]) as r:
            vip = await r.worker.run(r.db.groups.create, "VIP")
            assert vip.id is not None
            await r.worker.run(r.db.groups.add_members, vip.id, [1, 2, 3])
            report = await r.service.preflight(draft(r, group_ids=[r.group_id, vip.id]))
            assert report.audience == 11
            assert report.duplicates.count == 3
            assert report.duplicates.people[0].reason == "in 2 of the chosen groups"
            assert report.to_send == 10
            assert report.opted_out.count == 1

            everyone = await r.service.preflight(draft(r, exclude_opted_out=False))
            assert everyone.opted_out.count == 0
            assert everyone.opted_out_included.count == 1
            assert everyone.to_send == 11
            assert any("asked not to be" in w for w in everyone.warnings)

    run(body())


def test_blocking_problems(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=3) as r:
            unmapped = await r.service.preflight(
                draft(r, variable_mapping={"1": {"field": "first_name"}})
            )
            assert not unmapped.ok
            assert unmapped.unmapped == ("2",)
            assert any("{{2}} has no value" in b for b in unmapped.blocking)

            empty_text = await r.service.preflight(
                draft(r, variable_mapping={"1": {"text": " "}, "2": {"field": "order"}})
            )
            assert any("empty fixed text" in b for b in empty_text.blocking)

            order = await r.worker.run(r.db.templates.get, r.template_id)
            sale = Template(
                account_id=r.account_id,
                kind=TemplateKind.APPROVED,
                name="spring_sale",
                body="Sale {{1}}",
                status="PENDING",
                language="en_US",
            )
            await r.worker.run(r.db.templates.replace_synced, r.account_id, [order, sale])
            listed = await r.worker.run(r.db.templates.list, r.account_id)
            pending = next(t for t in listed if t.name == "spring_sale")
            report = await r.service.preflight(
                draft(r, template_id=pending.id, variable_mapping={"1": {"text": "now"}})
            )
            assert any("spring_sale" in b and "PENDING" in b for b in report.blocking)

            empty_group = await r.worker.run(r.db.groups.create, "Nobody")
            nobody = await r.service.preflight(draft(r, group_ids=[empty_group.id]))
            assert any("no contacts" in b for b in nobody.blocking)

            sick = HealthReport(False, "The access token has expired.")
            broken = await r.service.preflight(draft(r), health=sick)
            assert any("access token has expired" in b for b in broken.blocking)

            fine = await r.service.preflight(draft(r))
            assert fine.ok and fine.warnings == ()

    run(body())


def test_quota_and_finish_time(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=30) as r:
            default = await r.service.preflight(draft(r))
            assert default.rate == 80.0 and default.rate_is_default  # Meta's default
            assert default.seconds == pytest.approx(30 / 80)
            assert default.duration == "under a minute"

            slow = await r.service.preflight(draft(r, rate=0.2))
            assert slow.seconds == pytest.approx(150.0)
            assert slow.duration == "about 3 minutes"

            at = now() + timedelta(days=1)
            later = await r.service.preflight(draft(r, rate=0.2, scheduled_at=at))
            assert later.starts_at == at
            assert later.finishes_at == at + timedelta(seconds=150)

            tier = HealthReport(True, "Fine.", {"messaging_limit": "TIER_10"})
            tiered = await r.service.preflight(draft(r), health=tier)
            assert tiered.daily_limit == 10 and tiered.messaging_limit == "TIER_10"
            assert tiered.ok
            assert any("10 new people per 24 hours" in w for w in tiered.warnings)
            assert tiered.seconds == pytest.approx(2 * 86400)  # 30 people, 10 a day: 3 days

    run(body())


def test_tiers_and_durations() -> None:
    assert daily_limit("TIER_1K") == 1000
    assert daily_limit("TIER_250") == 250
    assert daily_limit("TIER_UNLIMITED") is None
    assert daily_limit(None) is None
    assert duration_text(59) == "under a minute"
    assert duration_text(61) == "about 2 minutes"
    assert duration_text(3600) == "about 1 h"
    assert duration_text(5000) == "about 1 h 24 min"
    assert duration_text(90000) == "about 1 day 1 h"


def test_test_send_renders_the_real_message_for_one_number(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=3) as r:
            outcome = await r.service.test_send(draft(r), phone(1))  # a contact's number
            assert outcome.sent, outcome.summary
            assert outcome.text == "Hi Person, your order #1 is on its way."
            assert "order_update" in outcome.summary
            sent = [m for m in r.sandbox.messages() if m["to"] == phone(1)]
            assert len(sent) == 1

            stranger = "+1 415 555 0777"
            other = await r.service.test_send(draft(r), stranger)
            assert other.sent, other.summary
            assert other.text == "Hi Person, your order #0 is on its way."  # the first's values
            assert [m["to"] for m in r.sandbox.messages()].count(phone(777)) == 1

            nonsense = await r.service.test_send(draft(r), "call me")
            assert not nonsense.sent and "not a phone number" in nonsense.summary

            unmapped = await r.service.test_send(
                draft(r, variable_mapping={"1": {"field": "first_name"}}), phone(2)
            )
            assert not unmapped.sent and "Nothing was sent" in unmapped.summary
            # Nothing is written to any campaign.
            assert await r.service.list() == []

    run(body())


def test_test_send_says_why_nothing_was_sent(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=2) as r:
            # A free-form message to a number that never wrote: the Sandbox applies the
            # 24-hour rule like WhatsApp does.
            ff = draft(
                r,
                template_id=None,
                freeform_template_id=r.freeform_id,
                window_policy=WindowPolicy.FREEFORM_IN_WINDOW,
                variable_mapping={"1": {"field": "first_name"}},
            )
            skipped = await r.service.test_send(ff, phone(1))
            assert not skipped.sent and "outside the 24-hour window" in skipped.summary
            assert r.sandbox.messages() == []

            # A template the provider has not approved: its refusal, in plain words.
            order = await r.worker.run(r.db.templates.get, r.template_id)
            sale = Template(
                account_id=r.account_id,
                kind=TemplateKind.APPROVED,
                name="spring_sale",
                body="Our spring sale starts {{1}}: everything {{2}} off.",
                status="PENDING",
                language="en_US",
            )
            await r.worker.run(r.db.templates.replace_synced, r.account_id, [order, sale])
            listed = await r.worker.run(r.db.templates.list, r.account_id)
            pending = next(t for t in listed if t.name == "spring_sale")
            refused = await r.service.test_send(
                draft(
                    r,
                    template_id=pending.id,
                    variable_mapping={"1": {"text": "today"}, "2": {"text": "20%"}},
                ),
                phone(1),
            )
            assert not refused.sent
            assert "132001" in refused.summary, refused.summary
            assert refused.what_to_do
            assert refused.text == "Our spring sale starts today: everything 20% off."

    run(body())


def test_the_finish_time_counts_random_waits_the_hourly_cap_and_the_warm_up(
    tmp_path: Path,
) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=30) as r:
            # 30 messages at one a second with at most 10 an hour: two full hours, then 10 s.
            capped = await r.service.preflight(draft(r, rate=1.0, hourly_cap=10))
            assert capped.seconds == pytest.approx(2 * 3600 + 10)
            assert any(
                "paced to protect the number" in w and "at most 10 an hour" in w
                for w in capped.warnings
            )
            # A random 4–6 s wait before each send, shared by Meta's 16 requests in flight.
            waits = await r.service.preflight(draft(r, jitter=(4.0, 6.0)))
            assert waits.seconds == pytest.approx(30 * 5.0 / 16)
            # A new number warms up: 50 people in its first 24 h is enough for 30 …
            warm = await r.service.preflight(draft(r, warmup=True))
            assert warm.seconds == pytest.approx(30 / 80)
            # … but a tier of 20 a day is smaller: a day, then 10 more.
            tier = HealthReport(True, "Fine.", {"messaging_limit": "TIER_20"})
            both = await r.service.preflight(draft(r, warmup=True), health=tier)
            assert both.seconds == pytest.approx(86400 + 10 / 80)
            assert any("20 new people per 24 hours" in w for w in both.warnings)
            bad = await r.service.preflight(draft(r, jitter=(5.0, 1.0)))
            assert any("pace is not valid" in b for b in bad.blocking)

    run(body())
