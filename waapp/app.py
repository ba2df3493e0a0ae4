"""The composition root: the only place that builds the concrete store and services and
hands them to the UI (architecture.md)."""

from __future__ import annotations

import asyncio
import json
import logging
import logging.handlers
import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from waapp.paths import DataPaths
from waapp.providers.twilio import TwilioProvider
from waapp.services.accounts import IN_PROCESS, AccountService
from waapp.services.campaigns import CampaignService
from waapp.services.campaigns.scheduler import CampaignScheduler
from waapp.services.contacts import ContactService
from waapp.services.events import AccountsChanged, EventBus, TunnelStateChanged
from waapp.services.exporter import ExportService
from waapp.services.importer import ImportService
from waapp.services.secrets import SecretStore
from waapp.services.status.intake import StatusIntake
from waapp.services.templates import TemplateService
from waapp.store.database import Database, open_database
from waapp.store.worker import DatabaseWorker

if TYPE_CHECKING:
    from waapp.instance import SendingLock
    from waapp.sandbox.server import Sandbox

log = logging.getLogger("waapp")


def setup_logging(paths: DataPaths) -> None:
    """A rotating log file in the data folder. Secrets are never passed to a logger."""
    paths.logs.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        paths.logs / "waapp.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)


#: Settings (in the store) for the status intake: the webhook receiver's port on this
#: computer (0: any free port) and the tunnel command that makes it reachable.
WEBHOOK_PORT_KEY = "webhook_port"
TUNNEL_COMMAND_KEY = "tunnel_command"


@dataclass
class Services:
    paths: DataPaths
    worker: DatabaseWorker
    db: Database
    bus: EventBus
    contacts: ContactService
    secrets: SecretStore
    importer: ImportService
    exporter: ExportService
    accounts: AccountService
    intake: StatusIntake
    templates: TemplateService
    campaigns: CampaignService
    sandbox: Sandbox | None = None
    scheduler: CampaignScheduler | None = None
    sending_lock: SendingLock | None = None

    async def start_network(self, *, owner: str = "the waapp window") -> None:
        """Start the in-process Sandbox, the accounts' providers and the status intake.

        Separate from :func:`open_services` so that tests of the store-only features (and
        command-line commands that need no network) do not open ports. Only one process
        sends from a data folder: :class:`~waapp.instance.AlreadySending` names the one
        that does (``owner`` is how this one is named to the others).
        """
        from waapp.instance import SendingLock
        from waapp.sandbox import settings as sb
        from waapp.sandbox.server import Sandbox

        if self.sending_lock is None:
            lock = SendingLock(self.paths.root, owner=owner)
            lock.acquire()
            self.sending_lock = lock
        self.sandbox = Sandbox()
        await self.sandbox.start()
        await self.accounts.ensure_sandbox_account(
            credentials={
                "access_token": sb.DEFAULT_META_ACCESS_TOKEN,
                "app_secret": sb.DEFAULT_META_APP_SECRET,
                "verify_token": sb.DEFAULT_META_VERIFY_TOKEN,
            },
            ids={
                "phone_number_id": sb.DEFAULT_META_PHONE_NUMBER_ID,
                "waba_id": sb.DEFAULT_META_WABA_ID,
            },
        )
        await self.accounts.load()
        await self.intake.start()
        await self._point_sandbox_at_receiver()
        self.bus.subscribe(TunnelStateChanged, lambda _e: self._point_twilio_at_receiver())
        self.bus.subscribe(AccountsChanged, lambda _e: self._point_twilio_at_receiver())
        self._point_twilio_at_receiver()
        await self.campaigns.start_engine()
        if self.scheduler is None:
            self.scheduler = CampaignScheduler(self.campaigns)
            await self.scheduler.start()

    def _point_twilio_at_receiver(self) -> None:
        """Twilio sends delivery reports to each message's ``StatusCallback``: unless the
        account names one itself, it is our receiver's address (public once the tunnel
        runs), followed as the tunnel comes and goes."""
        for account_id, provider in self.accounts.providers().items():
            if isinstance(provider, TwilioProvider) and not self.accounts.fixed_status_callback(
                account_id
            ):
                provider.status_callback = self.intake.url_for(account_id)

    async def _point_sandbox_at_receiver(self) -> None:
        """The in-process Sandbox sends its signed webhooks straight to our receiver's local
        address (never through the tunnel: it is on this computer)."""
        assert self.sandbox is not None
        receiver = self.intake.receiver
        for account in await self.accounts.list():
            if account.id is not None and account.settings.get(IN_PROCESS):
                url = receiver.local_base + receiver.path_for(account.id)
                self.sandbox.configure(meta={"webhook_url": url})
                return

    async def apply_webhook_settings(self, *, port: int, tunnel_command: str | None) -> None:
        """Save the webhook port (0: any free port) and tunnel command, and restart the
        status intake with them. Everything accepted so far is written before the old
        intake stops; its dead letters move to the new one. A bad command or a port that
        cannot be bound raises ValidationError, and the old intake runs again unchanged."""
        from waapp.core.errors import ValidationError
        from waapp.services.events import SettingsChanged
        from waapp.services.status.tunnel import tunnel_argv

        command = (tunnel_command or "").strip() or None
        if not 0 <= port <= 65535:
            raise ValidationError(
                f"{port} is not a port number.", what_to_do="Use 0 (any free port) to 65535."
            )
        try:
            if command is not None:
                tunnel_argv(command, port)
        except ValueError as error:
            raise ValidationError(
                f"The tunnel command cannot be read: {error}.",
                what_to_do="Check its quotes, for example: cloudflared tunnel --url "
                "http://127.0.0.1:{port}",
            ) from error
        old = self.intake
        await old.stop()
        new = StatusIntake(
            statuses=self.db.statuses,
            settings=self.db.settings,
            worker=self.worker,
            bus=self.bus,
            providers=self.accounts.providers,
            port=port,
            tunnel_command=command,
        )
        new.writer.dead_letters.extend(old.writer.dead_letters)
        try:
            await new.start()
        except OSError as error:
            await old.start()  # on port 0 that is a new port: point the Sandbox at it
            if self.sandbox is not None:
                await self._point_sandbox_at_receiver()
            raise ValidationError(
                f"Port {port} cannot be used: {error.strerror or error}.",
                what_to_do="Another program may be using it; pick another port, or 0 for any "
                "free port.",
            ) from error
        self.intake = new
        await self.worker.run(self.db.settings.set, WEBHOOK_PORT_KEY, port)
        await self.worker.run(self.db.settings.set, TUNNEL_COMMAND_KEY, command)
        self.bus.publish(SettingsChanged(WEBHOOK_PORT_KEY))
        if self.sandbox is not None:
            await self._point_sandbox_at_receiver()

    async def close(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()
            self.scheduler = None
        await self.campaigns.stop_engine()
        await self.intake.stop()
        await self.accounts.close()
        if self.sandbox is not None:
            await self.sandbox.stop()
        await self.worker.run(self.db.close)
        self.worker.shutdown()
        if self.sending_lock is not None:
            self.sending_lock.release()
            self.sending_lock = None


async def open_services(paths: DataPaths) -> Services:
    """Open (and migrate) the store on the database worker and build the services."""
    worker = DatabaseWorker()
    try:
        db = await worker.run(open_database, paths.database)
    except BaseException:
        worker.shutdown()
        raise
    bus = EventBus()
    secrets = SecretStore(paths.fallback_keyring)
    contacts = ContactService(
        contacts=db.contacts, groups=db.groups, settings=db.settings, worker=worker, bus=bus
    )
    holder: list[Services] = []

    def sandbox_url() -> str | None:
        sandbox = holder[0].sandbox if holder else None
        return sandbox.url if sandbox is not None and sandbox.running else None

    accounts = AccountService(
        db=db, worker=worker, bus=bus, secrets=secrets, sandbox_url=sandbox_url
    )
    port = await worker.run(db.settings.get, WEBHOOK_PORT_KEY, 0)
    tunnel = await worker.run(db.settings.get, TUNNEL_COMMAND_KEY, None)
    intake = StatusIntake(
        statuses=db.statuses,
        settings=db.settings,
        worker=worker,
        bus=bus,
        providers=accounts.providers,
        port=int(port or 0),
        tunnel_command=tunnel or None,
    )
    services = Services(
        paths,
        worker,
        db,
        bus,
        contacts,
        secrets,
        importer=ImportService(db=db, worker=worker, bus=bus),
        exporter=ExportService(db=db, worker=worker),
        accounts=accounts,
        intake=intake,
        templates=TemplateService(db=db, worker=worker, bus=bus, accounts=accounts),
        campaigns=CampaignService(db=db, worker=worker, provider_for=accounts.provider, bus=bus),
    )
    holder.append(services)
    return services


async def attach_ui(window: object, services: Services) -> None:
    """Build the screens over the services and put them in the window."""
    from waapp.ui.bridge import Bridge
    from waapp.ui.contacts.view import ContactsView
    from waapp.ui.main_window import MainWindow

    assert isinstance(window, MainWindow)
    bridge = Bridge(services.bus, parent=window)
    contacts = ContactsView(
        services.contacts, bridge, importer=services.importer, exporter=services.exporter
    )
    screens: dict[str, Any] = {"contacts": contacts}
    # Each screen: key → a widget with an ``async load()``; one line per screen below.
    # (screens)
    from waapp.ui.campaigns.view import CampaignsView

    screens["campaigns"] = CampaignsView(services, bridge)
    screens["dashboard"] = CampaignsView(services, bridge, dashboard=True)
    from waapp.ui.diagnostics import DiagnosticsView

    screens["diagnostics"] = DiagnosticsView(services, bridge)
    from waapp.ui.accounts.view import AccountsView

    screens["accounts"] = AccountsView(services, bridge)
    from waapp.ui.templates.view import TemplatesView

    screens["templates"] = TemplatesView(services, bridge)
    window.attach(screens)
    window.attach_services(services, bridge)  # tray, notifications, quitting while sending
    for screen in screens.values():
        await screen.load()


#: Set to 1 by ``bench/start``: print when the first frame is painted and when the services
#: are ready (JSON lines on stderr, wall-clock seconds), then quit.
STARTUP_PROBE_ENV = "WAAPP_STARTUP_PROBE"


class StartupProbe:
    def __init__(self, window: Any) -> None:
        from PySide6.QtCore import QEvent, QObject

        class FirstPaint(QObject):
            def eventFilter(self, _obj: Any, event: Any) -> bool:
                if event.type() == QEvent.Type.Paint:
                    window.removeEventFilter(self)
                    StartupProbe.emit("first_frame")
                return False

        self._filter = FirstPaint(window)
        window.installEventFilter(self._filter)

    @staticmethod
    def emit(event: str) -> None:
        print(json.dumps({"event": event, "t": time.time()}), file=sys.stderr, flush=True)

    def ready(self, window: Any) -> None:
        self.emit("ready")
        window.close()


def run_gui(paths: DataPaths) -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    from waapp.core.errors import WaappError
    from waapp.instance import WINDOW, AlreadySending
    from waapp.ui.gc_pin import MainThreadCollector
    from waapp.ui.main_window import MainWindow
    from waapp.ui.theme import apply_theme
    from waapp.ui.tray import app_icon

    setup_logging(paths)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("waapp")
    app.setDesktopFileName("waapp")
    app.setWindowIcon(app_icon())
    apply_theme(app)
    window = MainWindow(paths)
    probe = StartupProbe(window) if os.environ.get(STARTUP_PROBE_ENV) else None
    window.show()

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    # Quitting ends main(), which stops the services (the engine drains its in-flight
    # sends) before the loop stops; Qt must not quit the loop under it. The window decides
    # when that is (``quitConfirmed``): closing it while campaigns are sending hides it to
    # the tray or asks first, so the last window closing is not the signal.
    app.setQuitOnLastWindowClosed(False)
    closing = asyncio.Event()
    window.quitConfirmed.connect(closing.set)
    app.aboutToQuit.connect(closing.set)

    async def main() -> None:
        services: Services | None = None
        try:
            services = await open_services(paths)
            await services.start_network(owner=WINDOW)
            await attach_ui(window, services)
            if probe is not None:
                probe.ready(window)
        except AlreadySending as error:  # another window or ``waapp run``, idle or not
            log.warning("Not opened: %s", error)
            what, to_do = error.for_window()
            window.show_failure(f"{what}\n\n{to_do}", status="waapp is already open.")
        except WaappError as error:
            log.error("Cannot open the data: %s", error)
            window.show_failure(f"{error.message}\n\n{error.what_to_do}")
        await closing.wait()
        if services is not None:
            await services.close()

    collector = MainThreadCollector(app)  # Qt objects die on this thread only
    collector.start()
    try:
        with loop:
            loop.run_until_complete(main())
    finally:
        collector.stop()
    return 0
