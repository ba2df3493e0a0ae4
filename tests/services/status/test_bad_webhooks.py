"""The bad-webhook suite (reliability.md §2 "Bad webhooks", §3).

A seeded random stream of ~1 200 requests from three fake providers that sign the real way,
sent concurrently to the receiver over loopback: good batches and singles arriving out of
order, exact replays, forged / unsigned / replayed-with-changes requests, bodies of several
MB, malformed JSON and form bodies, unknown fields, unknown message ids and unknown
accounts. Then, from the store itself:

- forged requests were all refused (403) and the messages they aimed at never moved;
- nothing moved backwards (states are sampled after every wave of requests);
- nothing accepted was lost: every message ends at least as far as its good updates say,
  every good reply is recorded, and exactly the "STOP" senders are opted out;
- no 5xx, no broken connection, no error logged.

The figures go to the closing line printed at the end of the pytest run (conftest.py).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from waapp.core.entities import AccountKind, Contact
from waapp.core.ports import Provider
from waapp.services.status.writer import INVALID_EVENT
from waapp.store.database import Database
from waapp.store.schema import inbound_messages

from .conftest import BadWebhookTally
from .fakes import (
    FakeMeta,
    FakeTwilio,
    FakeWaSender,
    meta_envelope,
    meta_inbound,
    meta_signed,
    meta_status,
    twilio_inbound_params,
    twilio_signed,
    twilio_status_params,
    wasender_signed,
    wasender_update,
)
from .harness import RANK, Intake, add_account, add_campaign, open_intake, run, states

META, TWILIO, WASENDER = 1, 2, 3
N_META, N_TWILIO, N_WASENDER = 240, 120, 120
GUARDED = 20  # the last messages of each campaign: only forged requests aim at them
FAILING = 20  # the ones before them: only failures (and stale "sent") are sent for them
CONTACTS = 30
BASE_TS = 1_746_090_000

STEPS = ("sent", "delivered", "read")
STEP_RANK = {"sent": 1, "delivered": 3, "read": 4, "failed": 2}


@dataclass
class Req:
    kind: str  # good, replay, forged, oversized, malformed, unknown-account
    url: str
    body: bytes
    headers: dict[str, str]
    expect: tuple[int, ...]


class Ledger:
    """What the good requests say each message must reach, at least."""

    def __init__(self) -> None:
        self.expected: dict[str, int] = {}
        self.replies: set[str] = set()
        self.stop_senders: set[str] = set()

    def saw(self, pid: str, status: str) -> None:
        self.expected[pid] = max(self.expected.get(pid, 0), STEP_RANK[status])


def seed(db: Database) -> dict[int, Provider]:
    assert add_account(db, AccountKind.META, "Meta") == META
    assert add_account(db, AccountKind.TWILIO, "Twilio") == TWILIO
    assert add_account(db, AccountKind.WASENDER, "WaSender") == WASENDER
    add_campaign(db, META, [("sent", f"wamid.{n}") for n in range(N_META)], name="meta")
    add_campaign(db, TWILIO, [("sent", f"SM{n:032d}") for n in range(N_TWILIO)], name="twilio")
    add_campaign(db, WASENDER, [("sent", f"3EB0{n:08X}") for n in range(N_WASENDER)], name="ws")
    for n in range(CONTACTS):
        db.contacts.add(Contact(phone_e164=f"+3460011{n:04d}", name=f"C{n}"))
    return {META: FakeMeta(), TWILIO: FakeTwilio(), WASENDER: FakeWaSender()}


def pids(account: int) -> list[str]:
    if account == META:
        return [f"wamid.{n}" for n in range(N_META)]
    if account == TWILIO:
        return [f"SM{n:032d}" for n in range(N_TWILIO)]
    return [f"3EB0{n:08X}" for n in range(N_WASENDER)]


def split(ids: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(normal, failing, guarded) message ids of a campaign."""
    return ids[: -GUARDED - FAILING], ids[-GUARDED - FAILING : -GUARDED], ids[-GUARDED:]


def build_stream(intake: Intake, rng: random.Random, ledger: Ledger) -> list[Req]:
    stream: list[Req] = []
    meta_url, twilio_url, ws_url = (intake.url(a) for a in (META, TWILIO, WASENDER))
    goods: list[Req] = []

    def good(req: Req) -> None:
        goods.append(req)
        stream.append(req)

    # --- Meta: batches of 1–50 statuses, out of order, with unknown ids and unknown fields
    normal, failing, guarded = split(pids(META))
    for _ in range(170):
        statuses = []
        for _ in range(rng.randint(1, 50)):
            roll = rng.random()
            if roll < 0.08:
                statuses.append(
                    meta_status(f"wamid.unknown.{rng.randrange(10**6)}", "read", BASE_TS)
                )
                continue
            if roll < 0.15:
                pid = rng.choice(failing)
                status = rng.choice(["failed", "failed", "sent"])
            else:
                pid = rng.choice(normal)
                status = rng.choice(STEPS)
            item = meta_status(
                pid,
                status,
                BASE_TS + STEP_RANK[status] * 100 + rng.randrange(50),
                errors=[{"code": 131026, "title": "Message undeliverable"}]
                if status == "failed"
                else None,
            )
            if rng.random() < 0.2:
                item["some_future_field"] = {"nested": [1, 2, 3]}  # unknown fields
            statuses.append(item)
            ledger.saw(pid, status)
        payload = meta_envelope(statuses=statuses)
        if rng.random() < 0.2:
            payload["entry"][0]["changes"].append({"field": "account_update", "value": {"x": 1}})
        good(Req("good", meta_url, *meta_signed(payload), expect=(200,)))

    # --- Meta: replies, some of them STOP
    for n in range(CONTACTS):
        text = rng.choice(["STOP", "Baja", "stop by tomorrow?", "thanks!", "PARAR."])
        wamid = f"wamid.in.{n}"
        ledger.replies.add(wamid)
        if text in ("STOP", "Baja", "PARAR."):
            ledger.stop_senders.add(f"+3460011{n:04d}")
        payload = meta_envelope(
            messages=[meta_inbound(wamid, f"3460011{n:04d}", text, BASE_TS + n)]
        )
        good(Req("good", meta_url, *meta_signed(payload), expect=(200,)))

    # --- Twilio: one status per request, no timestamps; a few inbound replies
    normal, failing, guarded_tw = split(pids(TWILIO))
    for _ in range(360):
        if rng.random() < 0.1:
            sid = rng.choice(failing)
            params = twilio_status_params(sid, "undelivered", ErrorCode="63024")
            ledger.saw(sid, "failed")
        else:
            sid = rng.choice(normal)
            status = rng.choice(STEPS)
            params = twilio_status_params(sid, status)
            ledger.saw(sid, status)
        if rng.random() < 0.3:
            params["StructuredMessage"] = "false"  # fields this code does not know
        good(Req("good", twilio_url, *twilio_signed(twilio_url, params), expect=(200,)))
    for n in range(5):
        sid = f"SMin{n}"
        ledger.replies.add(sid)
        params = twilio_inbound_params(sid, f"+3460011{n:04d}", "hello")
        good(Req("good", twilio_url, *twilio_signed(twilio_url, params), expect=(200,)))

    # --- WaSender: numeric and string statuses, object and array forms
    normal, failing, guarded_ws = split(pids(WASENDER))
    codes = {"sent": [2, "sent"], "delivered": [3, "delivered"], "read": [4, 5, "read", "played"]}
    for _ in range(170):
        key = rng.choice(normal)
        status = rng.choice(STEPS)
        payload = wasender_update(
            key, rng.choice(codes[status]), (BASE_TS + STEP_RANK[status] * 100) * 1000
        )
        if rng.random() < 0.3:
            payload["data"] = [payload["data"]]
        ledger.saw(key, status)
        good(Req("good", ws_url, *wasender_signed(payload), expect=(200,)))

    # --- exact replays of good requests (provider retries): accepted, change nothing
    for req in rng.sample(goods, 160):
        stream.append(Req("replay", req.url, req.body, req.headers, expect=(200,)))

    # --- forged, unsigned, replayed with changes: all aimed at the guarded messages
    for _ in range(110):
        pid = rng.choice(guarded)
        payload = meta_envelope(statuses=[meta_status(pid, "read", BASE_TS + 999)])
        kind = rng.choice(["wrong-secret", "unsigned", "changed", "garbage-signature"])
        body, headers = meta_signed(payload)
        if kind == "wrong-secret":
            body, headers = meta_signed(payload, app_secret="not-the-secret")
        elif kind == "unsigned":
            headers = {"Content-Type": "application/json"}
        elif kind == "changed":  # a captured good request, replayed aimed at another message
            original = rng.choice([g for g in goods if g.url == meta_url and b"statuses" in g.body])
            changed = json.loads(original.body)
            changed["entry"][0]["changes"][0]["value"]["statuses"][0].update(id=pid, status="read")
            body, headers = json.dumps(changed).encode(), original.headers
        else:
            headers["X-Hub-Signature-256"] = f"sha256={rng.getrandbits(256):064x}"
        stream.append(Req("forged", meta_url, body, headers, expect=(403,)))
    for _ in range(70):
        sid = rng.choice(guarded_tw)
        params = twilio_status_params(sid, "read")
        kind = rng.choice(["wrong-token", "unsigned", "changed", "other-url"])
        if kind == "wrong-token":
            body, headers = twilio_signed(twilio_url, params, auth_token="guess")
        elif kind == "unsigned":
            body, headers = twilio_signed(twilio_url, params)
            del headers["X-Twilio-Signature"]
        elif kind == "changed":
            other = twilio_status_params(rng.choice(pids(TWILIO)[:10]), "sent")
            _, headers = twilio_signed(twilio_url, other)
            body, _ = twilio_signed(twilio_url, params)
        else:
            body, headers = twilio_signed("https://attacker.example/webhooks/2", params)
        stream.append(Req("forged", twilio_url, body, headers, expect=(403,)))
    for _ in range(50):
        payload = wasender_update(rng.choice(guarded_ws), 4, BASE_TS * 1000)
        body, headers = wasender_signed(payload, secret=rng.choice(["", "guess", "wasender"]))
        if not headers["X-Webhook-Signature"]:
            del headers["X-Webhook-Signature"]
        stream.append(Req("forged", ws_url, body, headers, expect=(403,)))

    # --- bodies of several MB (signed: size alone decides)
    for _ in range(8):
        filler = {"padding": "x" * rng.randint(2, 5) * 1024 * 1024}
        url, signer = rng.choice([(meta_url, meta_signed), (ws_url, wasender_signed)])
        stream.append(Req("oversized", url, *signer(filler), expect=(413,)))

    # --- malformed bodies, correctly signed: answered, logged, ignored
    malformed_json = [
        b"{",
        b"",
        b"null",
        b"[1,2,3]",
        b'{"object": "whatsapp_business_account"}',
        b'{"object": "whatsapp_business_account", "entry": "nope"}',
        json.dumps(
            meta_envelope(statuses=[{"id": "wamid.1", "status": "read", "timestamp": "soon"}])
        ).encode(),
        '{"object": "whatsapp_business_account", "entry": [\ud800]}'.encode(
            "utf-8", "surrogatepass"
        ),
        bytes(rng.getrandbits(8) for _ in range(300)),
    ]
    for _ in range(25):
        stream.append(
            Req("malformed", meta_url, *meta_signed(rng.choice(malformed_json)), expect=(200,))
        )
        stream.append(
            Req("malformed", ws_url, *wasender_signed(rng.choice(malformed_json)), expect=(200,))
        )
    for _ in range(20):
        garbage = rng.choice(
            [b"%%%&&&==", b"\xff\xfe\x00garbage", b"MessageStatus=read", b"a=1&a=2&a"]
        )
        signature = twilio_signed(twilio_url, {})[1]
        expect = (400,) if garbage.startswith(b"\xff") else (200, 403)
        stream.append(Req("malformed", twilio_url, garbage, signature, expect=expect))
    for body in (b"MessageStatus=read&MessageSid=", b"MessageSid=SM1&MessageStatus=teleported"):
        params = dict(pair.split("=", 1) for pair in body.decode().split("&"))
        stream.append(
            Req("malformed", twilio_url, *twilio_signed(twilio_url, params), expect=(200,))
        )

    # --- unknown accounts
    for target in ("/webhooks/77", "/webhooks/-1", "/webhooks/%2e%2e", "/webhooks/1e3"):
        body, headers = meta_signed(meta_envelope(statuses=[]))
        stream.append(
            Req(
                "unknown-account", intake.receiver.local_base + target, body, headers, expect=(404,)
            )
        )

    rng.shuffle(stream)  # out of order, replays before originals, attacks interleaved
    return stream


class ErrorLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_bad_webhooks(db_path: Path, bad_webhook_tally: BadWebhookTally) -> None:
    rng = random.Random(20250501)
    ledger = Ledger()
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    figures: dict[str, Any] = {}

    async def main() -> None:
        async with open_intake(db_path, seed, batch_size=200) as intake:
            stream = build_stream(intake, rng, ledger)
            outcomes: list[tuple[Req, int | None]] = []
            limit = asyncio.Semaphore(16)

            async def send(req: Req) -> None:
                async with limit:
                    try:
                        # Big bodies as a stream, as aiohttp wants them (no warning).
                        data = io.BytesIO(req.body) if len(req.body) > 2**20 else req.body
                        async with intake.session.post(
                            req.url, data=data, headers=req.headers
                        ) as r:
                            await r.read()
                            outcomes.append((req, r.status))
                    except aiohttp.ClientError:
                        outcomes.append((req, None))

            snapshots: dict[int, dict[str, str]] = {c: states(intake.db, c) for c in (1, 2, 3)}
            backwards = 0
            for start in range(0, len(stream), 100):
                await asyncio.gather(*(send(req) for req in stream[start : start + 100]))
                await intake.writer.flushed()
                for campaign in (1, 2, 3):
                    now = states(intake.db, campaign)
                    backwards += sum(
                        RANK[now[pid]] < RANK[before] for pid, before in snapshots[campaign].items()
                    )
                    snapshots[campaign] = now

            lost = 0
            for campaign in (1, 2, 3):
                final = snapshots[campaign]
                for pid, rank in ledger.expected.items():
                    if pid in final and RANK[final[pid]] < rank:
                        lost += 1
            with intake.db.engine.connect() as conn:
                recorded_replies = set(
                    conn.execute(select(inbound_messages.c.provider_message_id)).scalars()
                )
                assert conn.execute(
                    select(func.count()).select_from(inbound_messages)
                ).scalar_one() == len(ledger.replies)
            lost += len(ledger.replies - recorded_replies)
            opted = {
                c.phone_e164
                for c in intake.db.contacts.get_many(list(range(1, CONTACTS + 1)))
                if c.opted_out
            }
            lost += len(ledger.stop_senders ^ opted)

            guarded_moved = sum(
                snapshots[c][pid] != "sent"
                for c, account in ((1, META), (2, TWILIO), (3, WASENDER))
                for pid in split(pids(account))[2]
            )
            figures.update(
                outcomes=outcomes,
                backwards=backwards,
                lost=lost,
                guarded_moved=guarded_moved,
                unmatched=intake.writer.stats().unmatched,
                dead=sum(
                    len(letter.events)
                    for letter in intake.writer.dead_letters
                    if letter.error != INVALID_EVENT
                ),
                invalid=sum(
                    len(letter.events)
                    for letter in intake.writer.dead_letters
                    if letter.error == INVALID_EVENT
                ),
                receiver=intake.receiver.stats(),
            )

    try:
        run(main())
    finally:
        root.removeHandler(errors)

    outcomes: list[tuple[Req, int | None]] = figures["outcomes"]
    wrong = [
        (req.kind, req.url, req.body[:80], status)
        for req, status in outcomes
        if status not in req.expect
    ]
    crashes = sum(status is None or status >= 500 for _, status in outcomes) + len(errors.records)
    crashes += figures["dead"]
    tally = bad_webhook_tally
    tally.requests += len(outcomes)
    tally.forged_rejected += sum(req.kind == "forged" and status == 403 for req, status in outcomes)
    tally.oversized_rejected += sum(status == 413 for _, status in outcomes)
    tally.malformed += sum(
        req.kind == "malformed" and status in (200, 400, 403) for req, status in outcomes
    )
    tally.unknown_ids += figures["unmatched"]
    tally.crashes += crashes
    tally.backwards += figures["backwards"]
    tally.lost += figures["lost"]

    assert len(outcomes) >= 1200
    assert figures["invalid"] == 1  # the signed Twilio form with an empty MessageSid
    assert wrong == []
    assert [r.getMessage() for r in errors.records] == []
    assert crashes == 0
    assert figures["backwards"] == 0
    assert figures["lost"] == 0
    assert figures["guarded_moved"] == 0  # forged requests changed nothing
    assert figures["unmatched"] > 0
    assert figures["receiver"].forged == sum(req.kind == "forged" for req, _ in outcomes) + sum(
        status == 403 for req, status in outcomes if req.kind == "malformed"
    )


def test_replays_of_one_update_never_move_a_message_twice(
    db_path: Path, bad_webhook_tally: BadWebhookTally
) -> None:
    """A read message replayed its whole history backwards, many times, concurrently."""

    def one(db: Database) -> dict[int, Provider]:
        add_account(db, AccountKind.META, "Meta")
        add_campaign(db, 1, [("sent", "wamid.x")])
        return {1: FakeMeta()}

    async def main() -> list[str]:
        async with open_intake(db_path, one) as intake:
            history = [
                meta_signed(meta_envelope(statuses=[meta_status("wamid.x", s, BASE_TS + n)]))
                for n, s in enumerate(["sent", "delivered", "read", "failed"])
            ]
            seen: list[str] = []
            for wave in range(10):
                order: Callable[[list[Any]], list[Any]] = reversed if wave % 2 else list  # type: ignore[assignment]
                results = await asyncio.gather(
                    *(intake.post(intake.url(1), body, headers) for body, headers in order(history))
                )
                assert {status for status, _, _ in results} == {200}
                await intake.writer.flushed()
                seen.append(states(intake.db, 1)["wamid.x"])
            bad_webhook_tally.requests += 40
            return seen

    seen = run(main())
    # Once read, always read; "failed" after "read" is noise.
    first_read = seen.index("read")
    assert all(state == "read" for state in seen[first_read:])
