"""Cancel tokens and progress callbacks for long jobs (imports, exports, sends).

Long jobs take a ``ProgressCallback`` and a ``CancelToken`` and check the token between
batches (style.md habit 6); ``ui/ops`` wires them to a progress dialog's bar and Cancel.
"""

from __future__ import annotations

from collections.abc import Callable

from waapp.core.errors import WaappError

#: ``progress(done, total)``; ``total`` is 0 while unknown. Called from any thread.
ProgressCallback = Callable[[int, int], None]


class Cancelled(WaappError):
    what_to_do = "Nothing was changed. Start it again when you are ready."


class CancelToken:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True

    def raise_if_cancelled(self) -> None:
        if self.cancelled:
            raise Cancelled("Cancelled.")


def no_progress(_done: int, _total: int) -> None:
    """The progress callback for callers that do not show progress."""
