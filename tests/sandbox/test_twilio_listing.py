"""The Twilio Messages list's filters, as a client looking a message up by recipient and
time uses them: ``To``, ``From`` and ``DateSent`` (a day, or ``>=`` / ``<=`` bounds)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from tests.sandbox.helpers import ALICE, BOB, TWILIO_MESSAGES, Harness, harness, run, twilio_text

OTHER_SENDER = "whatsapp:+14155230000"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


async def sids(h: Harness, url: str) -> list[str]:
    answer = await h.twilio_get(url)
    assert answer.status == 200, answer.body
    return [m["sid"] for m in answer.body["messages"]]


async def three_days(h: Harness) -> dict[str, str]:
    """Messages to Alice accepted late on 30 April, on 1 May and just after midnight, and
    one to Bob from another sender; name → sid."""
    times = {
        "april": "2024-04-30T23:59:30",
        "may": "2024-05-01T10:00:00",
        "after": "2024-05-02T00:00:30",
    }
    made: dict[str, str] = {}
    for name, when in times.items():
        answer = await h.twilio(twilio_text(ALICE, name))
        assert answer.status == 201
        made[name] = answer.body["sid"]
        h.sandbox.world.by_id[made[name]].time = at(when)
    answer = await h.twilio(twilio_text(BOB, "other", From=OTHER_SENDER))
    assert answer.status == 201
    made["bob"] = answer.body["sid"]
    h.sandbox.world.by_id[made["bob"]].time = at("2024-05-01T11:00:00")
    return made


def test_date_sent_bounds_as_written_in_a_url() -> None:
    async def body() -> None:
        async with harness({"window_open": True}) as h:
            made = await three_days(h)
            to = "To=" + quote("whatsapp:" + ALICE)
            # "DateSent>=2024-05-01" reaches the server as the parameter "DateSent>".
            assert await sids(h, f"{TWILIO_MESSAGES}?{to}&DateSent>=2024-05-01") == [
                made["after"],
                made["may"],
            ]
            assert await sids(h, f"{TWILIO_MESSAGES}?{to}&DateSent<=2024-05-01") == [
                made["may"],
                made["april"],
            ]
            assert await sids(h, f"{TWILIO_MESSAGES}?{to}&DateSent=2024-05-01") == [made["may"]]
            both = f"{TWILIO_MESSAGES}?{to}&DateSent>=2024-05-01&DateSent<=2024-05-01"
            assert await sids(h, both) == [made["may"]]
            exact = f"{TWILIO_MESSAGES}?{to}&DateSent>=2024-05-01T10:00:01Z"
            assert await sids(h, exact) == [made["after"]]

    run(body())


def test_the_whole_operator_as_the_name_and_the_sender_filter() -> None:
    async def body() -> None:
        async with harness({"window_open": True}) as h:
            made = await three_days(h)
            answer = await h.twilio_get(TWILIO_MESSAGES, params={"DateSent>=": "2024-05-01"})
            assert [m["sid"] for m in answer.body["messages"]] == [
                made["after"],
                made["bob"],
                made["may"],
            ]
            ours = await h.twilio_get(
                TWILIO_MESSAGES,
                params={"From": "whatsapp:+14155238886", "DateSent>": "2024-05-01"},
            )
            assert [m["sid"] for m in ours.body["messages"]] == [made["after"], made["may"]]
            theirs = await h.twilio_get(
                TWILIO_MESSAGES, params={"From": OTHER_SENDER, "To": "whatsapp:" + BOB}
            )
            assert [m["sid"] for m in theirs.body["messages"]] == [made["bob"]]
            # The next page keeps the filters.
            first = await h.twilio_get(
                TWILIO_MESSAGES,
                params={"To": "whatsapp:" + ALICE, "DateSent>": "2024-04-30", "PageSize": "2"},
            )
            assert len(first.body["messages"]) == 2
            second = await h.twilio_get(first.body["next_page_uri"])
            assert [m["sid"] for m in second.body["messages"]] == [made["april"]]

    run(body())


def test_an_unreadable_date_is_refused_not_ignored() -> None:
    async def body() -> None:
        async with harness({"window_open": True}) as h:
            await h.twilio(twilio_text(ALICE))
            for name in ("DateSent", "DateSent>", "DateSent<", "DateSent<="):
                answer = await h.twilio_get(TWILIO_MESSAGES, params={name: "yesterday"})
                assert answer.status == 400, name
                assert answer.body["code"] == 20001 and name in answer.body["message"]

    run(body())
