"""The webhook receiver over loopback, with fake providers that sign the real way."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from waapp.core.entities import AccountKind, Contact
from waapp.core.ports import Provider, WebhookRequest
from waapp.services.events import ContactsChanged, InboundReceived, StatusesApplied
from waapp.store.database import Database

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
from .harness import add_account, add_campaign, counters_match, open_intake, run, states

META, TWILIO, WASENDER = 1, 2, 3


def three_accounts(db: Database) -> dict[int, Provider]:
    assert add_account(db, AccountKind.META, "Meta") == META
    assert add_account(db, AccountKind.TWILIO, "Twilio") == TWILIO
    assert add_account(db, AccountKind.WASENDER, "WaSender") == WASENDER
    add_campaign(db, META, [("sent", "wamid.1"), ("sending", "wamid.2")], name="meta")
    add_campaign(db, TWILIO, [("sent", "SM1")], name="twilio")
    add_campaign(db, WASENDER, [("sent", "3EB0")], name="wasender")
    return {META: FakeMeta(), TWILIO: FakeTwilio(), WASENDER: FakeWaSender()}


def test_signed_webhooks_of_each_provider_are_answered_and_applied(db_path: Path) -> None:
    async def main() -> None:
        async with open_intake(db_path, three_accounts) as intake:
            body, headers = meta_signed(
                meta_envelope(
                    statuses=[
                        meta_status("wamid.1", "read", 1_746_090_100),
                        meta_status("wamid.2", "delivered", 1_746_090_050),
                    ]
                )
            )
            assert await intake.post(intake.url(META), body, headers) == (200, "text/plain", "")

            url = intake.url(TWILIO)
            body, headers = twilio_signed(url, twilio_status_params("SM1", "delivered"))
            status, content_type, text = await intake.post(url, body, headers)
            assert (status, content_type) == (200, "text/xml")
            assert text == '<?xml version="1.0" encoding="UTF-8"?><Response/>'

            body, headers = wasender_signed(wasender_update("3EB0", 4, 1_746_090_000_000))
            assert (await intake.post(intake.url(WASENDER), body, headers))[0] == 200

            await intake.writer.flushed()
            assert states(intake.db, 1) == {"wamid.1": "read", "wamid.2": "delivered"}
            assert states(intake.db, 2) == {"SM1": "delivered"}
            assert states(intake.db, 3) == {"3EB0": "read"}
            assert all(counters_match(intake.db, c) for c in (1, 2, 3))
            applied = [e for e in intake.published if isinstance(e, StatusesApplied)]
            assert sum(e.count for e in applied) == 4
            stats = intake.receiver.stats()
            assert (stats.requests, stats.accepted, stats.events, stats.forged) == (3, 3, 4, 0)
            assert stats.last_accepted_at is not None
            assert [e.outcome for e in intake.receiver.recent()] == ["accepted"] * 3

    run(main())


def test_inbound_replies_reach_contacts_and_opt_out_keywords(db_path: Path) -> None:
    async def main() -> None:
        async with open_intake(db_path, three_accounts) as intake:
            ana = await intake.worker.run(
                intake.db.contacts.add, Contact(phone_e164="+34600111222", name="Ana")
            )
            bob = await intake.worker.run(
                intake.db.contacts.add, Contact(phone_e164="+14155550100", name="Bob")
            )
            body, headers = meta_signed(
                meta_envelope(
                    messages=[meta_inbound("wamid.in1", "34600111222", "¡BAJA!", 1_746_090_000)]
                )
            )
            assert (await intake.post(intake.url(META), body, headers))[0] == 200
            url = intake.url(TWILIO)
            body, headers = twilio_signed(
                url, twilio_inbound_params("SMin", "+14155550100", "stop by tomorrow?")
            )
            assert (await intake.post(url, body, headers))[0] == 200
            await intake.writer.flushed()

            stored_ana = await intake.worker.run(intake.db.contacts.get, ana.id or 0)
            stored_bob = await intake.worker.run(intake.db.contacts.get, bob.id or 0)
            assert stored_ana.opt_out_reason == 'Replied "¡BAJA!" on WhatsApp'
            assert stored_ana.last_inbound_at is not None and stored_ana.opted_out_at is not None
            assert stored_bob.last_inbound_at is not None and stored_bob.opted_out_at is None
            inbound = [e for e in intake.published if isinstance(e, InboundReceived)]
            assert sum(e.count for e in inbound) == 2
            assert {i for e in inbound for i in e.opted_out_ids} == {ana.id}
            assert any(isinstance(e, ContactsChanged) for e in intake.published)

    run(main())


def test_forged_unsigned_and_changed_bodies_are_refused_and_change_nothing(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with open_intake(db_path, three_accounts) as intake:
            payload = meta_envelope(statuses=[meta_status("wamid.1", "read", 1_746_090_100)])
            good, headers = meta_signed(payload)
            forged, forged_headers = meta_signed(payload, app_secret="guessed")
            changed = good.replace(b'"read"', b'"failed"')
            attempts = [
                (intake.url(META), forged, forged_headers),
                (intake.url(META), good, {"Content-Type": "application/json"}),
                (intake.url(META), changed, headers),  # replayed with changes
                (intake.url(META), good, {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}),
            ]
            url = intake.url(TWILIO)
            body, tw = twilio_signed(url, twilio_status_params("SM1", "read"))
            attempts += [
                (url, body.replace(b"read", b"failed"), tw),
                (url, body, {**tw, "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}),
                (intake.url(TWILIO, "?extra=1"), body, tw),  # signed for another URL
                (url, *twilio_signed(url, twilio_status_params("SM1", "read"), "wrong-token")),
            ]
            body, ws = wasender_signed(wasender_update("3EB0", 4, 1_746_090_000_000), "nope")
            attempts.append((intake.url(WASENDER), body, ws))
            for target, data, hdrs in attempts:
                assert (await intake.post(target, data, hdrs))[0] == 403
            await intake.writer.flushed()
            assert states(intake.db, 1) == {"wamid.1": "sent", "wamid.2": "sending"}
            assert states(intake.db, 2) == {"SM1": "sent"}
            assert states(intake.db, 3) == {"3EB0": "sent"}
            assert await intake.worker.run(intake.statuses.recent_events, 10) == []
            assert intake.receiver.stats().forged == len(attempts)
            assert intake.writer.stats().events_written == 0

    with caplog.at_level(logging.WARNING, logger="waapp.services.status.receiver"):
        run(main())
    assert sum("403 forged or unsigned" in r.getMessage() for r in caplog.records) == 9


def test_the_public_url_is_what_twilio_signed(db_path: Path) -> None:
    public = "https://quiet-river-1234.trycloudflare.com"

    async def main() -> None:
        async with open_intake(db_path, three_accounts, public_base=lambda: public) as intake:
            assert intake.receiver.url_for(TWILIO) == f"{public}/webhooks/{TWILIO}"
            params = twilio_status_params("SM1", "read")
            query = "?waapp_ref=41"
            body, headers = twilio_signed(f"{public}/webhooks/{TWILIO}{query}", params)
            assert (await intake.post(intake.url(TWILIO, query), body, headers))[0] == 200
            # Signed for the local URL while a tunnel is public: not what Twilio would do.
            local = intake.url(TWILIO)
            body, headers = twilio_signed(local, twilio_status_params("SM1", "delivered"))
            assert (await intake.post(local, body, headers))[0] == 403

    run(main())


def test_size_limit_unknown_accounts_and_methods(db_path: Path) -> None:
    async def main() -> None:
        async with open_intake(db_path, three_accounts, max_body=64 * 1024) as intake:
            big = meta_envelope(
                statuses=[meta_status(f"wamid.{n}", "read", 1_746_090_100) for n in range(2000)]
            )
            body, headers = meta_signed(big)
            assert len(body) > 64 * 1024
            assert (await intake.post(intake.url(META), body, headers))[0] == 413

            async def chunks() -> object:
                for _ in range(20):
                    yield b"x" * 8192

            async with intake.session.post(
                intake.url(META), data=chunks(), headers=headers
            ) as response:  # no Content-Length: the limit holds while reading
                assert response.status == 413
            body, headers = meta_signed(meta_envelope(statuses=[]))
            for path in (intake.url(99), intake.url("abc"), intake.url("1" * 40)):
                assert (await intake.post(path, body, headers))[0] == 404
            async with intake.session.put(intake.url(META), data=body) as response:
                assert response.status == 405
            stats = intake.receiver.stats()
            assert (stats.too_large, stats.unknown_account) == (2, 3)

    run(main())


def test_meta_subscription_handshake(db_path: Path) -> None:
    async def main() -> None:
        async with open_intake(db_path, three_accounts) as intake:
            query = "?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=vt-123"
            assert await intake.get(intake.url(META, query)) == (200, "1158201444")
            wrong = "?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess"
            assert (await intake.get(intake.url(META, wrong)))[0] == 403
            assert (await intake.get(intake.url(TWILIO, query)))[0] == 403  # no handshake there
            assert (await intake.get(intake.url(42, query)))[0] == 404
            stats = intake.receiver.stats()
            assert (stats.handshakes, stats.handshakes_refused) == (1, 2)

    run(main())


def test_malformed_signed_bodies_are_logged_and_ignored(
    db_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        async with open_intake(db_path, three_accounts) as intake:
            for raw in (
                b"{not json",
                b"[]",
                b'{"object": "page"}',
                json.dumps({"entry": 5}).encode(),
            ):
                body, headers = meta_signed(raw)
                assert (await intake.post(intake.url(META), body, headers))[0] == 200
            # Twilio: a form that is not UTF-8 cannot even be checked.
            url = intake.url(TWILIO)
            assert (await intake.post(url, b"\xff\xfe=\x00", {"X-Twilio-Signature": "x"}))[0] == 400
            # Signed, but no MessageSid.
            body, headers = twilio_signed(url, {"Foo": "bar"})
            assert (await intake.post(url, body, headers))[0] == 200
            stats = intake.receiver.stats()
            assert (stats.malformed, stats.events) == (6, 0)

    with caplog.at_level(logging.WARNING):
        run(main())
    assert sum("not understood (ignored)" in r.getMessage() for r in caplog.records) == 5


class ExplodingProvider(FakeMeta):
    """A provider module with a bug: the receiver must survive it."""

    def verify_webhook(self, request: WebhookRequest) -> bool:
        if request.body == b"boom":
            raise RuntimeError("bug in verify")
        return True

    def verify_subscription(self, query: object) -> str | None:  # type: ignore[override]
        raise RuntimeError("bug in handshake")


def test_a_buggy_provider_never_makes_a_500(db_path: Path) -> None:
    def accounts(db: Database) -> dict[int, Provider]:
        add_account(db, AccountKind.META, "Buggy")
        return {1: ExplodingProvider()}

    async def main() -> None:
        async with open_intake(db_path, accounts) as intake:
            assert (await intake.post(intake.url(1), b"boom", {}))[0] == 400
            assert (await intake.post(intake.url(1), b"fine but not json", {}))[0] == 200
            assert (await intake.get(intake.url(1, "?hub.challenge=1")))[0] == 403

    run(main())


def test_a_full_writer_answers_503_so_that_the_provider_retries(db_path: Path) -> None:
    async def main() -> None:
        async with open_intake(db_path, three_accounts, max_pending=1) as intake:
            body, headers = meta_signed(
                meta_envelope(statuses=[meta_status("wamid.1", "read", 1_746_090_100)])
            )
            intake.writer.put(META, [])  # nothing: still room
            await intake.writer.stop()  # a stopped writer has no room either
            async with intake.session.post(intake.url(META), data=body, headers=headers) as r:
                assert (r.status, r.headers["Retry-After"]) == (503, "5")
            assert intake.receiver.stats().busy == 1

    run(main())
