"""The one way a view starts asynchronous work (Anki's CollectionOp, on asyncio).

    Op(parent, lambda: service.delete_contacts(ids))
        .success(lambda n: status(f"{n} deleted"))
        .with_progress("Deleting contacts…")
        .run()

While it runs the window shows a busy cursor; with ``with_progress`` a progress dialog
appears after half a second (with a Cancel button when ``cancellable``); a failure without
a ``failure`` callback is shown in a dialog with what to do. ``run()`` returns the task.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Generic, TypeVar

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox, QProgressDialog, QWidget

from waapp.core.errors import WaappError
from waapp.core.progress import CancelToken

T = TypeVar("T")
log = logging.getLogger(__name__)

PROGRESS_DELAY_MS = 500


def show_error(parent: QWidget | None, error: BaseException, *, title: str = "waapp") -> None:
    """A plain-language error dialog: what happened, and what to do."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(title)
    if isinstance(error, WaappError):
        box.setText(error.message)
        if error.what_to_do:
            box.setInformativeText(error.what_to_do)
    else:
        box.setText("Something went wrong and the action was not completed.")
        box.setInformativeText(
            "Nothing was lost. Try again; if it keeps happening, send the log file to support."
        )
        box.setDetailedText(f"{type(error).__name__}: {error}")
    box.open()


class Op(Generic[T]):
    def __init__(
        self,
        parent: QWidget | None,
        work: Callable[[CancelToken], Awaitable[T]]
        | Callable[[], Awaitable[T]]
        | Coroutine[Any, Any, T],
    ) -> None:
        """``work`` is a coroutine already made (a refresh), or a function making it,
        optionally taking the cancel token."""
        self._parent = parent
        self._work = work
        self._on_success: Callable[[T], object] | None = None
        self._on_failure: Callable[[BaseException], object] | None = None
        self._label: str | None = None
        self._cancellable = False
        self.token = CancelToken()

    def success(self, callback: Callable[[T], object]) -> Op[T]:
        self._on_success = callback
        return self

    def failure(self, callback: Callable[[BaseException], object]) -> Op[T]:
        self._on_failure = callback
        return self

    def with_progress(self, label: str, *, cancellable: bool = False) -> Op[T]:
        self._label = label
        self._cancellable = cancellable
        return self

    def run(self) -> asyncio.Task[T | None]:
        task = asyncio.get_event_loop().create_task(self._run())
        work = self._work
        if inspect.iscoroutine(work):
            # Cancelled before it started (the screen closed): close the coroutine so that
            # it is not reported as "never awaited". A finished one ignores close().
            task.add_done_callback(lambda _task: work.close())
        return task

    def _awaitable(self) -> Awaitable[T]:
        if inspect.iscoroutine(self._work):
            return self._work
        if inspect.signature(self._work).parameters:
            return self._work(self.token)  # type: ignore[call-arg]
        return self._work()  # type: ignore[call-arg]

    async def _run(self) -> T | None:
        QApplication.setOverrideCursor(Qt.CursorShape.BusyCursor)
        dialog: QProgressDialog | None = None
        timer: QTimer | None = None
        task = asyncio.current_task()
        if self._label is not None:
            dialog = QProgressDialog(
                self._label, "Cancel" if self._cancellable else "", 0, 0, self._parent
            )
            dialog.setWindowModality(Qt.WindowModality.WindowModal)
            dialog.setMinimumDuration(0)
            if not self._cancellable:
                dialog.setCancelButton(None)  # type: ignore[arg-type]
            else:

                def cancel() -> None:
                    self.token.cancel()
                    if task is not None:
                        task.cancel()

                dialog.canceled.connect(cancel)
            dialog.hide()
            timer = QTimer()
            timer.setSingleShot(True)
            timer.timeout.connect(dialog.show)
            timer.start(PROGRESS_DELAY_MS)
        try:
            result = await self._awaitable()
        except asyncio.CancelledError:
            return None
        except Exception as error:  # every failure ends in a callback or a dialog
            if not isinstance(error, WaappError):
                log.exception("Operation failed")
            if self._on_failure is not None:
                self._on_failure(error)
            else:
                show_error(self._parent, error)
            return None
        finally:
            if timer is not None:
                timer.stop()
            if dialog is not None:
                dialog.hide()
                dialog.deleteLater()
            QApplication.restoreOverrideCursor()
        if self._on_success is not None:
            self._on_success(result)
        return result
