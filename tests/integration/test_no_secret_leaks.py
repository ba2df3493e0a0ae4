"""reliability.md §3: tokens live only in the keyring.

Accounts of every kind get distinctive tokens; messages go out through the Sandbox (some
accepted, some refused for a wrong key, some failing the 24 h rule by webhook), statuses and
replies come back through the webhook receiver, templates are synced into the store,
contacts are exported, and everything is logged the way the app logs (at DEBUG, to be
strict). Then the database (and its write-ahead log), the log files and every export are
searched for each token — as written, base64-encoded (Basic auth, keyrings.alt files) and
URL-encoded: zero hits.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from pathlib import Path
from urllib.parse import quote

from tests.conftest import MemoryKeyring
from tests.integration.conftest import LeakFigures
from tests.integration.helpers import FAST, NEVER_WROTE, WROTE, account_settings, eventually
from waapp.app import open_services, setup_logging
from waapp.core.entities import AccountKind
from waapp.core.ports import ContactQuery
from waapp.paths import DataPaths
from waapp.providers import ProviderRequestError
from waapp.sandbox import settings as sb

TOKENS: dict[str, str] = {
    "twilio auth token": "LEAKCHECK-twilio-auth-3f9a1c",
    "meta access token": "LEAKCHECK-meta-access-77b2e0",
    "meta app secret": "LEAKCHECK-meta-appsecret-c41d",
    "meta verify token": "LEAKCHECK-meta-verify-90aa",
    "kapso api key": "LEAKCHECK-kapso-apikey-5e6f",
    "kapso webhook secret": "LEAKCHECK-kapso-hook-1b2c",
    "wasender api key": "LEAKCHECK-wasender-apikey-d00d",
    "wasender webhook secret": "LEAKCHECK-wasender-hook-beef",
    "sandbox auth token": "LEAKCHECK-sandbox-auth-4242",
}


def forms(token: str) -> list[bytes]:
    """The ways a token could be written down: as is, URL-encoded, base64 alone and inside
    the Basic auth pair (``sid:token``)."""
    raw = token.encode()
    basic = f"{sb.DEFAULT_TWILIO_ACCOUNT_SID}:{token}".encode()
    return [
        raw,
        quote(token).encode(),
        base64.b64encode(raw).rstrip(b"="),
        base64.b64encode(basic).rstrip(b"="),
    ]


def hits(files: list[Path]) -> list[str]:
    found = []
    for path in files:
        data = path.read_bytes()
        for what, token in TOKENS.items():
            if any(form in data for form in forms(token)):
                found.append(f"{what} in {path.name}")
    return found


def test_no_token_in_the_database_logs_or_exports(
    tmp_path: Path, memory_keyring: MemoryKeyring, leak_figures: LeakFigures
) -> None:
    paths = DataPaths(tmp_path / "data")
    exports = tmp_path / "exports"
    exports.mkdir()
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    setup_logging(paths)
    root.setLevel(logging.DEBUG)
    searched: list[Path] = []
    try:
        searched, live_hits = asyncio.run(
            asyncio.wait_for(_exercise(paths, exports, leak_figures), 30)
        )
    finally:
        for handler in root.handlers[:]:
            if handler not in handlers:
                handler.close()
                root.removeHandler(handler)
        root.setLevel(level)

    # Every token did reach the keyring, so it was there to leak.
    assert set(TOKENS.values()) <= set(memory_keyring.secrets.values())

    logs = sorted(paths.logs.glob("*"))
    assert logs and any(p.stat().st_size for p in logs)
    closed = [paths.database, *logs, *sorted(exports.iterdir())]
    leak_figures.files = len({p.name for p in [*searched, *closed]})
    leak_figures.tokens = len(TOKENS)
    found = live_hits + hits(closed)
    leak_figures.hits = len(found)
    assert found == []


async def _exercise(
    paths: DataPaths, exports: Path, figures: LeakFigures
) -> tuple[list[Path], list[str]]:
    services = await open_services(paths)
    try:
        await services.start_network()
        sandbox = services.sandbox
        assert sandbox is not None
        url = sandbox.url
        sandbox.configure(
            scenario={**FAST, "reply_rate": 1.0, "stop_rate": 0.5},
            twilio={"auth_token": TOKENS["twilio auth token"]},
            meta={
                "access_token": TOKENS["meta access token"],
                "app_secret": TOKENS["meta app secret"],
                "verify_token": TOKENS["meta verify token"],
            },
            wasender={
                "api_key": TOKENS["wasender api key"],
                "webhook_secret": TOKENS["wasender webhook secret"],
            },
        )
        add = services.accounts.add
        twilio = await add(
            kind=AccountKind.TWILIO,
            name="Twilio",
            settings=account_settings(AccountKind.TWILIO, url),
            secrets={"auth_token": TOKENS["twilio auth token"]},
        )
        meta = await add(
            kind=AccountKind.META,
            name="Meta",
            settings=account_settings(AccountKind.META, url),
            secrets={
                "access_token": TOKENS["meta access token"],
                "app_secret": TOKENS["meta app secret"],
                "verify_token": TOKENS["meta verify token"],
            },
        )
        kapso = await add(  # X-API-Key, which the Sandbox refuses: the error path is logged
            kind=AccountKind.KAPSO,
            name="Kapso",
            settings=account_settings(AccountKind.KAPSO, url),
            secrets={
                "api_key": TOKENS["kapso api key"],
                "webhook_secret": TOKENS["kapso webhook secret"],
            },
        )
        wasender = await add(
            kind=AccountKind.WASENDER,
            name="WaSender",
            settings=account_settings(AccountKind.WASENDER, url),
            secrets={
                "api_key": TOKENS["wasender api key"],
                "webhook_secret": TOKENS["wasender webhook secret"],
            },
        )
        simulator = await add(  # a wrong token: refused, and logged as such
            kind=AccountKind.SANDBOX,
            name="Other sandbox",
            settings={
                "dialect": "twilio",
                "base_url": url,
                "account_sid": sb.DEFAULT_TWILIO_ACCOUNT_SID,
                "sender": sb.DEFAULT_TWILIO_SENDER,
            },
            secrets={"auth_token": TOKENS["sandbox auth token"]},
        )
        accounts = [twilio, meta, kapso, wasender, simulator]
        ids = [a.id for a in accounts]
        assert None not in ids
        sandbox.configure(
            twilio={"status_callback": services.intake.url_for(twilio.id or 0)},
            meta={"webhook_url": services.intake.url_for(meta.id or 0)},
            wasender={"webhook_url": services.intake.url_for(wasender.id or 0)},
        )
        for phone, name in ((WROTE, "Ana"), (NEVER_WROTE, "Bo")):
            await services.contacts.add_contact(name=name, phone=phone, fields={"city": "Pune"})
        sandbox.inbound(WROTE, "Hi, is my order ready?")

        for account in accounts:
            assert account.id is not None
            provider = await services.accounts.provider(account.id)
            await services.accounts.test_connection(account.id)
            results = [
                await provider.send_text(WROTE, "Your order is ready", reference="r-1"),
                await provider.send_text(NEVER_WROTE, "Still there?", reference="r-2"),
            ]
            figures.sends += len(results)
            try:
                templates = await provider.list_templates()
            except ProviderRequestError:
                templates = []
            await services.worker.run(services.db.templates.replace_synced, account.id, templates)
            for template in templates:
                if template.name == "order_update":
                    sent = await provider.send_template(
                        NEVER_WROTE, template, {"1": "Bo", "2": "A-17"}, reference="r-3"
                    )
                    figures.sends += 1
                    results.append(sent)
            if provider.supports_polling:
                for result in results:
                    if result.provider_message_id:
                        await provider.fetch_status(result.provider_message_id)

        async def quiet() -> bool:
            return (
                await sandbox.settle(0.5)
                and services.intake.receiver.stats().events >= 6
                and services.intake.writer.pending == 0
            )

        await eventually(quiet, timeout=10, what="the webhooks to be written")
        await services.intake.writer.flushed()
        assert services.intake.receiver.stats().forged == 0
        figures.webhooks = services.intake.receiver.stats().accepted

        count = await services.contacts.count(ContactQuery())
        await services.exporter.export_contacts(exports / "contacts.xlsx")
        await services.exporter.export_contacts(exports / "contacts.csv")
        assert count == 2

        # The live database and its write-ahead log, before closing folds one into the other.
        wal = paths.database.with_name(paths.database.name + "-wal")
        live = [paths.database, *([wal] if wal.exists() else [])]
        return live, hits(live)
    finally:
        await services.close()
