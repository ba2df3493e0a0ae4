"""Provider clients: Twilio, Meta's Cloud API (and Kapso), WaSender — the core ``Provider``
port over an injected ``httpx.AsyncClient``.

    make_client()                         the production client (httpx over httpx-aiohttp)
    make_provider(kind, settings, secrets, client=…)  → TwilioProvider | MetaProvider |
                                          WaSenderProvider (a Sandbox account: the one of
                                          its dialect, at its base URL)
    SETTINGS_FIELDS / SECRET_FIELDS       what the Accounts screen asks for, per kind

Errors never leave as httpx exceptions or provider JSON: sends return a ``SendResult``
whose ``ProviderError`` is named by ``waapp.core.catalogue`` (look it up with the
provider's ``dialect`` attribute); ``list_templates`` and ``fetch_status`` raise
:class:`ProviderRequestError` (a ``WaappError`` carrying the ``ProviderError``);
``check_health`` reports failures in its ``HealthReport``; ``parse_webhook`` never raises.
"""

from __future__ import annotations

from waapp.providers.base import ProviderRequestError
from waapp.providers.factory import make_provider
from waapp.providers.fields import SECRET_FIELDS, SETTINGS_FIELDS, FieldSpec, missing_fields
from waapp.providers.meta import MetaProvider
from waapp.providers.transport import USER_AGENT, make_client
from waapp.providers.twilio import TwilioProvider
from waapp.providers.wasender import WaSenderProvider

__all__ = [
    "SECRET_FIELDS",
    "SETTINGS_FIELDS",
    "USER_AGENT",
    "FieldSpec",
    "MetaProvider",
    "ProviderRequestError",
    "TwilioProvider",
    "WaSenderProvider",
    "make_client",
    "make_provider",
    "missing_fields",
]
