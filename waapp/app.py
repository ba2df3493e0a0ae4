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
from typing import Any

from waapp.paths import DataPaths
from waapp.services.contacts import ContactService
from waapp.services.events import EventBus
from waapp.services.exporter import ExportService
from waapp.services.importer import ImportService
from waapp.services.secrets import SecretStore
from waapp.store.database import Database, open_database
from waapp.store.worker import DatabaseWorker

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

    async def close(self) -> None:
        await self.worker.run(self.db.close)
        self.worker.shutdown()


async def open_services(paths: DataPaths) -> Services:
    """Open (and migrate) the store on the database worker and build the services."""
    worker = DatabaseWorker()
    try:
        db = await worker.run(open_database, paths.database)
    except BaseException:
        worker.shutdown()
        raise
    bus = EventBus()
    contacts = ContactService(
        contacts=db.contacts, groups=db.groups, settings=db.settings, worker=worker, bus=bus
    )
    return Services(
        paths,
        worker,
        db,
        bus,
        contacts,
        SecretStore(paths.fallback_keyring),
        importer=ImportService(db=db, worker=worker, bus=bus),
        exporter=ExportService(db=db, worker=worker),
    )


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
    window.attach({"contacts": contacts})
    await contacts.load()


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

    def ready(self, app: Any) -> None:
        self.emit("ready")
        app.quit()


def run_gui(paths: DataPaths) -> int:
    import qasync
    from PySide6.QtWidgets import QApplication

    from waapp.core.errors import WaappError
    from waapp.ui.main_window import MainWindow
    from waapp.ui.theme import apply_theme

    setup_logging(paths)
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setApplicationName("waapp")
    app.setDesktopFileName("waapp")
    apply_theme(app)
    window = MainWindow(paths)
    probe = StartupProbe(window) if os.environ.get(STARTUP_PROBE_ENV) else None
    window.show()

    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    closing = asyncio.Event()
    app.aboutToQuit.connect(closing.set)

    async def main() -> None:
        services: Services | None = None
        try:
            services = await open_services(paths)
            await attach_ui(window, services)
            if probe is not None:
                probe.ready(app)
        except WaappError as error:
            log.error("Cannot open the data: %s", error)
            window.show_failure(f"{error.message}\n\n{error.what_to_do}")
        await closing.wait()
        if services is not None:
            await services.close()

    with loop:
        loop.run_until_complete(main())
    return 0
