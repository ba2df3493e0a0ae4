"""The Diagnostics screen: account health, delivery reports (webhook receiver and tunnel),
the last events received, and the troubleshooting guide."""

from __future__ import annotations

from waapp.ui.diagnostics.view import DiagnosticsView

__all__ = ["DiagnosticsView"]
