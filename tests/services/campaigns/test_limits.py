"""Sending limits: the token bucket, the pacing profile, the caps the engine holds at
(hourly, the daily tier, the warm-up), and the finish-time estimate built on them."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.services.campaigns.harness import QUICK, Rig, order_campaign, phone, rig
from waapp.core.catalogue import Dialect
from waapp.core.entities import AccountKind, Message
from waapp.core.ports import SendResult
from waapp.core.states import CampaignStatus, MessageState
from waapp.services.campaigns.engine import CampaignRunner, RunnerSettings
from waapp.services.campaigns.limits import (
    Pacing,
    SharedPace,
    TokenBucket,
    cap_note,
    daily_limit,
    estimate_seconds,
    expected_interval,
    warmup_cap,
    warmup_day,
)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 60))


# --- the pacing profile ----------------------------------------------------------------------


def test_pacing_defaults_per_account_kind() -> None:
    meta = Pacing.for_account(AccountKind.META, Dialect.META)
    assert (meta.rate, meta.in_flight, meta.hourly_cap, meta.warmup) == (80.0, 16, None, False)
    assert not meta.gateway_like
    gateway = Pacing.for_account(AccountKind.WASENDER, Dialect.WASENDER)
    assert gateway.rate == 0.2 and gateway.in_flight == 1
    assert gateway.jitter == (2.0, 10.0) and gateway.hourly_cap == 120 and gateway.warmup
    # A Sandbox account paces as the dialect it speaks.
    assert Pacing.for_account(AccountKind.SANDBOX, Dialect.WASENDER) == gateway


def test_campaign_pacing_overrides_key_by_key_and_is_validated() -> None:
    base = Pacing.for_account(AccountKind.WASENDER, Dialect.WASENDER)
    mine = Pacing.for_account(
        AccountKind.WASENDER, Dialect.WASENDER, {"jitter": [1, 3], "hourly_cap": 60}
    )
    assert mine.jitter == (1.0, 3.0) and mine.hourly_cap == 60
    assert (mine.rate, mine.in_flight, mine.warmup) == (base.rate, base.in_flight, True)
    # None or 0 keep the default; an explicit 0/None hourly cap turns the cap off.
    assert Pacing.for_account(AccountKind.META, Dialect.META, {"rate": None}).rate == 80.0
    off = Pacing.for_account(AccountKind.WASENDER, Dialect.WASENDER, {"hourly_cap": None})
    assert off.hourly_cap is None
    assert not Pacing.for_account(AccountKind.WASENDER, Dialect.WASENDER, {"warmup": False}).warmup
    for bad in ({"rate": -1}, {"jitter": [5, 2]}, {"jitter": [-1, 2]}, {"hourly_cap": -5}):
        with pytest.raises(ValueError):
            Pacing.for_account(AccountKind.META, Dialect.META, bad)
    assert Pacing.for_account(AccountKind.WASENDER, Dialect.WASENDER, mine.to_json()) == mine


def test_runner_settings_follow_the_campaign_pacing() -> None:
    class Gateway:
        kind = AccountKind.WASENDER
        dialect = Dialect.WASENDER

    class Meta:
        kind = AccountKind.META
        dialect = Dialect.META

    from waapp.core.entities import Campaign

    campaign = Campaign(name="x", account_id=1, id=1, pacing={"hourly_cap": 30})
    gateway = RunnerSettings.for_campaign(campaign, Gateway())  # type: ignore[arg-type]
    assert gateway.rate == 0.2 and gateway.in_flight == 1
    assert gateway.jitter == (2.0, 10.0) and gateway.hourly_cap == 30 and gateway.warmup
    assert gateway.pacing == Pacing(0.2, 1, (2.0, 10.0), 30, True)
    meta = RunnerSettings.for_campaign(campaign, Meta(), rate=5.0)  # type: ignore[arg-type]
    assert meta.rate == 5.0 and meta.hourly_cap == 30 and meta.jitter == (0.0, 0.0)


def test_warmup_cap_grows_by_day() -> None:
    assert [warmup_cap(day) for day in (None, 0, 1, 2, 3, 4, 6, 7, 13, 14, 90)] == [
        50,
        50,
        50,
        100,
        100,
        200,
        200,
        400,
        400,
        None,
        None,
    ]
    first = datetime(2025, 5, 1, 9, 0, tzinfo=UTC)
    assert warmup_day(None, first) == 0
    assert warmup_day(first, first + timedelta(hours=23)) == 0
    assert warmup_day(first, first + timedelta(days=2, minutes=1)) == 2
    warm = Pacing.for_account(AccountKind.WASENDER, Dialect.WASENDER)
    assert warm.daily_cap(None, 0) == 50
    assert warm.daily_cap(30, 0) == 30  # the smaller applies
    assert warm.daily_cap(None, 20) is None
    assert Pacing(80.0, 16).daily_cap(daily_limit("TIER_250"), 0) == 250


def test_the_cap_note_names_the_cap_and_when_it_continues() -> None:
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0)
    later = now + timedelta(minutes=32)
    local = later.astimezone().strftime("%H:%M")
    assert cap_note("hourly", 120, later, now) == (
        f"The hourly cap of 120 messages is reached; sending continues at {local}."
    )
    tomorrow = now + timedelta(days=1)
    text = cap_note("tier", 1000, tomorrow, now)
    assert "daily limit of 1,000 people in 24 hours" in text
    assert tomorrow.astimezone().strftime("%b") in text  # another day: the date is named
    assert "warm-up limit of 50 people" in cap_note("warmup", 50, later, now)


# --- the token bucket ------------------------------------------------------------------------


def test_the_bucket_never_bursts_above_its_size() -> None:
    rate, burst, n = 400.0, 5, 80

    async def body() -> list[float]:
        seen: list[float] = []

        def clock() -> float:
            seen.append(time.monotonic())
            return seen[-1]

        bucket = TokenBucket(rate, burst=burst, clock=clock)
        taken: list[float] = []

        async def take() -> None:
            for _ in range(n // 8):
                await bucket.acquire()
                taken.append(seen[-1])  # the bucket's own reading when it gave the token

        await asyncio.sleep(0.05)  # a saved-up bucket never holds more than its size
        await asyncio.gather(*(take() for _ in range(8)))
        return taken

    taken = sorted(run(body()))
    assert len(taken) == n
    for i, start in enumerate(taken):
        for j in range(i, len(taken)):
            # tokens in [start, t_j]: what was saved (≤ burst) plus what the rate added
            assert j - i + 1 <= burst + rate * (taken[j] - start) + 1e-6


def test_a_slow_bucket_gives_up_when_told() -> None:
    async def body() -> bool:
        bucket = TokenBucket(0.001, burst=1)
        assert await bucket.acquire()  # the saved-up token
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.01, stop.set)
        return await bucket.acquire(stop)  # the next token is 1 000 s away

    assert run(body()) is False


# --- the estimate ----------------------------------------------------------------------------


def test_the_estimate_counts_jitter_hourly_and_daily_caps() -> None:
    plain = Pacing(10.0, 10)
    assert expected_interval(plain) == pytest.approx(0.1)
    assert estimate_seconds(100, plain) == pytest.approx(10.0)
    # One worker, a token every 5 s, then a random 2–10 s wait: E[max(5, U(2, 10))].
    gateway = Pacing(0.2, 1, (2.0, 10.0))
    assert expected_interval(gateway) == pytest.approx((3 * 5 + 5 * 7.5) / 8)
    # Random waits shared by 4 workers: the wait, a quarter each.
    assert expected_interval(Pacing(100.0, 4, (1.0, 3.0))) == pytest.approx(0.5)
    # 250 messages at 1 a second, at most 100 an hour: two full hours, then 50 s.
    hourly = Pacing(1.0, 1, hourly_cap=100)
    assert estimate_seconds(250, hourly) == pytest.approx(2 * 3600 + 50)
    # A cap the pace never reaches changes nothing.
    assert estimate_seconds(250, Pacing(0.01, 1, hourly_cap=100)) == pytest.approx(25_000)
    # The tier: 1 000 people a day at 80 mps, 2 500 people: two days, then 500 messages.
    meta = Pacing(80.0, 16)
    assert estimate_seconds(2500, meta, tier_limit=1000) == pytest.approx(2 * 86400 + 500 / 80)
    # Warm-up from day 0: 50, 50, then 100 a day; 160 people take two days and 60 more.
    warm = Pacing(80.0, 16, warmup=True)
    assert estimate_seconds(160, warm) == pytest.approx(2 * 86400 + 60 / 80)
    assert estimate_seconds(160, warm, day=14) == pytest.approx(160 / 80)


# --- the caps in the engine ------------------------------------------------------------------


class Clock:
    """The runner's clock: real time plus an offset a test moves forward."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


async def runner_for(
    r: Rig,
    campaign_id: int,
    *,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    cls: type[CampaignRunner] = CampaignRunner,
    **settings: Any,
) -> CampaignRunner:
    campaign = await r.worker.run(r.service.repo.get, campaign_id)
    template = await r.worker.run(r.db.templates.get, r.template_id)
    return cls(
        campaign=campaign,
        repo=r.service.repo,
        worker=r.worker,
        provider=r.provider,
        template=template,
        freeform=None,
        settings=RunnerSettings.for_campaign(
            campaign, r.provider, **{**QUICK, "hold_poll": 0.05, **settings}
        ),
        rng=rng,
        clock=clock or Clock(),
    )


async def started(r: Rig, **kwargs: Any) -> int:
    """A campaign frozen and ``sending``, not yet worked by any runner."""
    cid = await order_campaign(r, **kwargs)
    await r.service.start(cid, run=False)
    return cid


async def notes(r: Rig, campaign_id: int) -> list[str]:
    events = await r.worker.run(r.service.repo.events, campaign_id)
    return [e.detail for e in events if e.from_status is e.to_status]


async def eventually(check: Any, timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def states(r: Rig, campaign_id: int) -> dict[str, int]:
    return await r.worker.run(r.service.repo.recount, campaign_id)


def test_the_hourly_cap_holds_then_continues_with_one_note(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=8) as r:
            cid = await started(r, pacing={"hourly_cap": 5, "in_flight": 2})
            clock = Clock()
            runner = await runner_for(r, cid, clock=clock)
            task = asyncio.create_task(runner.run())
            await eventually(lambda: _noted(r, cid, "hourly cap"))
            # Held at 5: nothing more is claimed — the rest wait as they were.
            await eventually(lambda: _are(r, cid, {"sent": 5, "pending": 3}))
            assert len(await r.counts_at_sandbox()) == 5
            rows = await r.worker.run(r.service.repo.messages, cid)
            first = min(m.state_times["sent"] for m in rows if "sent" in m.state_times)
            at = (first + timedelta(hours=1)).astimezone().strftime("%H:%M")
            assert await notes(r, cid) == [
                f"The hourly cap of 5 messages is reached; sending continues at {at}."
            ]
            await asyncio.sleep(0.3)  # the hold goes on: still nothing more
            assert (await states(r, cid)) == {"sent": 5, "pending": 3}
            clock.offset = timedelta(hours=1, seconds=1)  # the hour rolls on
            await asyncio.wait_for(task, 20)
            assert (await r.worker.run(r.service.repo.get, cid)).status is (
                CampaignStatus.COMPLETED
            )
            assert (await r.check_ledger(cid)) == {"sent": 8}
            assert len(await notes(r, cid)) == 1  # one note for the hold, not one per message

    run(body())


async def _are(r: Rig, campaign_id: int, counts: dict[str, int]) -> bool:
    return await states(r, campaign_id) == counts


async def _noted(r: Rig, campaign_id: int, words: str) -> bool:
    return any(words in n for n in await notes(r, campaign_id))


def test_the_hourly_cap_counts_the_accounts_other_campaigns(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=6) as r:
            first = await started(r)
            await (await runner_for(r, first)).run()
            assert (await states(r, first)) == {"sent": 6}
            # Another campaign of the same account, to the same people, capped at 8 an
            # hour: 6 already went out this hour, so 2 more may.
            second = await started(r, pacing={"hourly_cap": 8})
            runner = await runner_for(r, second)
            task = asyncio.create_task(runner.run())
            await eventually(lambda: _noted(r, second, "hourly cap of 8"))
            await eventually(lambda: _are(r, second, {"sent": 2, "pending": 4}))
            runner.stop()
            await asyncio.wait_for(task, 20)

    run(body())


def test_the_tier_holds_at_the_cap(tmp_path: Path) -> None:
    async def body() -> None:
        # The account's health check says it may reach 4 people a day.
        async with rig(tmp_path, contacts=7, scenario={"messaging_limit": "TIER_4"}) as r:
            cid = await started(r)
            clock = Clock()
            runner = await runner_for(r, cid, clock=clock)
            task = asyncio.create_task(runner.run())
            await eventually(lambda: _noted(r, cid, "daily limit of 4 people"))
            await eventually(lambda: _are(r, cid, {"sent": 4, "pending": 3}))
            assert "messaging tier" in (await notes(r, cid))[0]
            clock.offset = timedelta(hours=24, seconds=1)  # a day later the room is back
            await asyncio.wait_for(task, 20)
            assert (await r.check_ledger(cid)) == {"sent": 7}
            assert len(await notes(r, cid)) == 1

    run(body())


def test_people_already_messaged_in_the_window_do_not_count(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=8, scenario={"messaging_limit": "TIER_4"}) as r:
            few = await r.worker.run(r.db.groups.create, "Earlier")
            assert few.id is not None
            await r.worker.run(r.db.groups.add_members, few.id, [1, 2, 3])
            earlier = await r.service.create(
                name="Earlier",
                account_id=r.account_id,
                group_ids=[few.id],
                template_id=r.template_id,
                variable_mapping={"1": {"field": "first_name"}, "2": {"field": "order"}},
            )
            assert earlier.id is not None
            await r.service.start(earlier.id, run=False)
            await (await runner_for(r, earlier.id)).run()
            assert (await states(r, earlier.id)) == {"sent": 3}

            # 4 people a day, 3 used: phones 0–2 again take no room, phone 3 the last one.
            cid = await started(r)
            runner = await runner_for(r, cid)
            task = asyncio.create_task(runner.run())
            await eventually(lambda: _noted(r, cid, "daily limit of 4"))
            await eventually(lambda: _are(r, cid, {"sent": 4, "pending": 4}))
            rows = await r.worker.run(r.service.repo.messages, cid)
            assert sorted(m.phone_e164 for m in rows if m.state is MessageState.SENT) == [
                phone(i) for i in range(4)
            ]
            assert (await states(r, cid)) == {"sent": 4, "pending": 4}
            runner.stop()
            await asyncio.wait_for(task, 20)

    run(body())


def test_the_warmup_cap_by_day(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=55, scenario={"messaging_limit": "TIER_UNLIMITED"}) as r:
            cid = await started(r, pacing={"warmup": True, "in_flight": 8, "rate": 1000})
            clock = Clock()
            runner = await runner_for(r, cid, clock=clock)
            task = asyncio.create_task(runner.run())
            await eventually(lambda: _noted(r, cid, "warm-up limit of 50 people"))
            await eventually(lambda: _are(r, cid, {"sent": 50, "pending": 5}))
            # Two days after the first send: day 2 allows 100, and the window is empty.
            clock.offset = timedelta(days=2, seconds=1)
            await asyncio.wait_for(task, 20)
            assert (await r.check_ledger(cid)) == {"sent": 55}

    run(body())


def test_jitter_waits_a_seeded_random_time_before_each_send(tmp_path: Path) -> None:
    log: list[tuple[str, Any]] = []

    class Recording(CampaignRunner):
        async def _jitter_wait(self, seconds: float) -> None:
            log.append(("wait", seconds))
            await super()._jitter_wait(seconds)

        async def _request(self, message: Message) -> SendResult:
            log.append(("send", message.phone_e164))
            return await super()._request(message)

    async def body() -> None:
        async with rig(tmp_path, contacts=5) as r:
            cid = await started(r, pacing={"jitter": [0.001, 0.02], "in_flight": 1})
            runner = await runner_for(r, cid, rng=random.Random(42), cls=Recording)
            await runner.run()
            assert (await r.check_ledger(cid)) == {"sent": 5}

    run(body())
    draws = random.Random(42)
    expected: list[tuple[str, Any]] = []
    for i in range(5):
        expected += [("wait", draws.uniform(0.001, 0.02)), ("send", phone(i))]
    assert log == expected


def test_a_pause_during_a_hold_or_a_random_wait_stops_at_once(tmp_path: Path) -> None:
    async def body() -> None:
        async with rig(tmp_path, contacts=4) as r:
            # A cap hold an hour long, its sleep not cut into short polls.
            cid = await started(r, pacing={"hourly_cap": 2})
            runner = await runner_for(r, cid, hold_poll=3600.0)
            task = asyncio.create_task(runner.run())
            await eventually(lambda: _noted(r, cid, "hourly cap of 2"))
            await eventually(lambda: _are(r, cid, {"sent": 2, "pending": 2}))
            await r.service.pause(cid)
            runner.stop()
            await asyncio.wait_for(task, 10)  # not an hour
            assert (await states(r, cid)) == {"sent": 2, "pending": 2}

            # A random wait of a minute before the next send.
            other = await started(r, pacing={"jitter": [60, 60], "in_flight": 1})
            runner = await runner_for(r, other)
            task = asyncio.create_task(runner.run())
            await eventually(lambda: _claimed(r, other))
            runner.stop()
            await asyncio.wait_for(task, 10)
            counts = await states(r, other)
            assert counts.get("sent", 0) == 0 and counts.get("sending", 0) == 0
            assert len(await r.counts_at_sandbox()) == 4 - 2  # the first campaign's two

    run(body())


async def _claimed(r: Rig, campaign_id: int) -> bool:
    return (await states(r, campaign_id)).get("sending", 0) > 0


def test_tier_check_failing_does_not_stop_the_campaign(tmp_path: Path) -> None:
    class NoHealth:
        def __init__(self, real: Any) -> None:
            self._real = real
            self.kind = real.kind
            self.dialect = real.dialect

        async def check_health(self) -> Any:
            raise RuntimeError("no answer")

        async def send_template(
            self, to: str, template: Any, variables: Mapping[str, str], *, reference: str
        ) -> SendResult:
            result: SendResult = await self._real.send_template(
                to, template, variables, reference=reference
            )
            return result

    async def body() -> None:
        async with rig(tmp_path, contacts=3) as r:
            cid = await started(r)
            runner = await runner_for(r, cid)
            runner._provider = NoHealth(r.provider)  # type: ignore[assignment]
            await runner.run()
            assert (await r.check_ledger(cid)) == {"sent": 3}

    run(body())


# --- one account, several campaigns ----------------------------------------------------------


def test_the_account_bucket_is_shared_at_the_slowest_pace_while_several_run() -> None:
    async def body() -> None:
        pace = SharedPace()
        first = pace.join(1, 10, 40.0, 4)
        assert (first.rate, first.burst, pace.others(1, 10)) == (40.0, 4.0, 0)
        second = pace.join(1, 11, 20.0, 2)
        assert second is first and (first.rate, first.burst) == (20.0, 2.0)
        assert pace.others(1, 10) == pace.others(1, 11) == 1
        assert pace.join(2, 12, 80.0, 16) is not first  # another account: its own
        pace.leave(1, 11)
        assert (first.rate, first.burst, pace.others(1, 10)) == (40.0, 4.0, 0)
        pace.leave(1, 10)
        assert pace.join(1, 13, 5.0, 1) is not first  # none ran: a fresh bucket

    run(body())


def test_two_campaigns_of_one_account_keep_the_accounts_pace(tmp_path: Path) -> None:
    """Each campaign asks 20 a second: together they still send at most 20 a second (and
    the saved-up burst), read on the bucket's own clock when each token was given."""
    rate, burst = 20.0, 4

    async def body() -> list[float]:
        readings: list[float] = []

        def clock() -> float:
            readings.append(time.monotonic())
            return readings[-1]

        granted: list[float] = []
        async with rig(tmp_path, contacts=12) as r:
            r.service.engine.pace = SharedPace(clock)
            real = r.provider.send_template

            async def send(*args: Any, **kwargs: Any) -> SendResult:
                # Called with no wait since the bucket gave the token: its last reading.
                granted.append(readings[-1])
                result: SendResult = await real(*args, **kwargs)
                return result

            r.provider.send_template = send  # type: ignore[method-assign]
            pacing = {"rate": rate, "in_flight": burst}
            cids = [await started(r, pacing=pacing), await started(r, pacing=pacing)]
            await r.service.start_engine()
            for cid in cids:
                assert (await r.service.wait(cid)).status is CampaignStatus.COMPLETED
                counts = await states(r, cid)
                assert sum(counts.get(s, 0) for s in ("sent", "delivered", "read")) == 12
            assert sum((await r.counts_at_sandbox()).values()) == 24
        return granted

    taken = sorted(run(body()))
    assert len(taken) == 24
    for i, start in enumerate(taken):
        for j in range(i, len(taken)):
            assert j - i + 1 <= burst + rate * (taken[j] - start) + 1e-6, (i, j)


def test_two_campaigns_of_one_account_never_overshoot_its_hourly_cap(tmp_path: Path) -> None:
    """16 messages in two campaigns, 10 an hour for the account: 10 go out, whatever the
    order the two runners claim in (each recounts at every claim while the other runs)."""

    async def body() -> None:
        async with rig(tmp_path, contacts=8, engine={"cap_recount": 3600.0}) as r:
            pacing = {"hourly_cap": 10, "in_flight": 2, "rate": 500}
            cids = [await started(r, pacing=pacing), await started(r, pacing=pacing)]
            await r.service.start_engine()

            async def held() -> bool:
                for cid in cids:
                    counts = await states(r, cid)
                    if counts.get("sending"):
                        return False
                    if counts.get("pending") and not await _noted(r, cid, "hourly cap of 10"):
                        return False
                return True

            await eventually(held)
            sent = [await states(r, cid) for cid in cids]
            assert (
                sum(c.get("sent", 0) + c.get("delivered", 0) + c.get("read", 0) for c in sent) == 10
            )
            assert sum((await r.counts_at_sandbox()).values()) == 10
            for cid in cids:  # counters equal a recount
                campaign = await r.worker.run(r.service.repo.get, cid)
                assert campaign.counters == await states(r, cid)

    run(body())


def test_a_campaigns_own_daily_limit_is_named_as_such() -> None:
    now = datetime.now(UTC)
    text = cap_note("campaign", 30, now + timedelta(hours=2), now)
    assert text.startswith("The campaign's daily limit of 30 people in 24 hours is reached")
    assert "tier" not in text

    class Gateway:
        kind = AccountKind.WASENDER
        dialect = Dialect.WASENDER

    from waapp.core.entities import Campaign

    campaign = Campaign(name="x", account_id=1, id=1)
    settings = RunnerSettings.for_campaign(
        campaign,
        Gateway(),  # type: ignore[arg-type]
        daily_cap=30,
        warmup=False,
    )
    runner = CampaignRunner(
        campaign=campaign,
        repo=None,  # type: ignore[arg-type]
        worker=None,  # type: ignore[arg-type]
        provider=Gateway(),  # type: ignore[arg-type]
        template=None,
        freeform=None,
        settings=settings,
    )
    assert runner._daily_cap(now) == (30, "campaign")
