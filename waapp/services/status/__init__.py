"""Status intake (architecture.md): the webhook receiver, the tunnel that makes it public,
the poller, and the one batched writer that applies everything to the store."""

from __future__ import annotations

from waapp.services.status.intake import StatusIntake
from waapp.services.status.keywords import OptOutKeywords
from waapp.services.status.poller import StatusPoller
from waapp.services.status.receiver import WebhookReceiver
from waapp.services.status.tunnel import Tunnel, TunnelState, TunnelStatus
from waapp.services.status.writer import StatusWriter

__all__ = [
    "OptOutKeywords",
    "StatusIntake",
    "StatusPoller",
    "StatusWriter",
    "Tunnel",
    "TunnelState",
    "TunnelStatus",
    "WebhookReceiver",
]
