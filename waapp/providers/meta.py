"""Meta's WhatsApp Cloud API (providers.md §2), and Kapso (§4) through its base URL.

Requests: JSON to ``{base_url}/{graph_version}/{phone_number_id}/messages`` with
``Authorization: Bearer <access token>``; for Kapso, ``X-API-Key: <api key>`` when an API
key is given (else the Bearer token). Our reference travels in
``biz_opaque_callback_data`` and comes back on every status webhook.

Template variables (``send_template``'s ``variables``) are keyed by placeholder name, as
everywhere in waapp: ``"1"``, ``"2"`` … or ``"first_name"`` …, and become the body's
parameters in send order; for a ``NAMED`` template each carries its ``parameter_name``.
Beyond the body, three optional keys:

* ``"header:<name>"`` — the value of a TEXT header's placeholder (for a NAMED template the
  plain ``"<name>"`` is used when ``"header:<name>"`` is absent);
* ``"header:link"`` — the media URL of an IMAGE / VIDEO / DOCUMENT header;
* ``"button:<index>"`` — the variable suffix of the URL button at that index.

Meta has no per-message status GET (§2.6): ``supports_polling`` is False and
:meth:`MetaProvider.fetch_status` returns None.
"""

from __future__ import annotations

import functools
import hmac
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx

from waapp.core import signatures
from waapp.core.catalogue import Dialect
from waapp.core.entities import AccountKind, PlaceholderFormat, Template, TemplateKind
from waapp.core.errors import ValidationError
from waapp.core.ports import (
    HealthReport,
    ProviderError,
    SendResult,
    StatusUpdate,
    WebhookEvent,
    WebhookRequest,
)
from waapp.core.templates import parse_placeholders
from waapp.providers import base, meta_webhooks
from waapp.providers.base import Clock, log, utc_now
from waapp.providers.fields import DEFAULT_GRAPH_VERSION, META_BASE_URL

__all__ = ["HEALTH_FIELDS", "TEMPLATE_FIELDS", "MetaProvider"]

_DIALECT = Dialect.META

#: Asked of ``GET /{phone_number_id}`` (§2.9). If Meta refuses one of them (code 100),
#: the check is repeated with the default fields only.
HEALTH_FIELDS = (
    "id,display_phone_number,verified_name,quality_rating,status,name_status,"
    "code_verification_status,throughput,messaging_limit_tier,account_mode,platform_type"
)
TEMPLATE_FIELDS = "id,name,status,category,language,components,parameter_format,quality_score"
_PAGE_SIZE = 100

#: Phone-number ``status`` values that can send (FLAGGED: low quality, still sending).
_SENDING_STATUSES = frozenset({"CONNECTED", "FLAGGED"})


class MetaProvider:
    """One WhatsApp Business phone number, on Meta's Cloud API or behind Kapso."""

    supports_polling = False
    dialect = _DIALECT

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        phone_number_id: str,
        waba_id: str = "",
        access_token: str = "",
        api_key: str = "",
        app_secret: str = "",
        verify_token: str = "",
        webhook_secret: str = "",
        graph_version: str = DEFAULT_GRAPH_VERSION,
        base_url: str = META_BASE_URL,
        kind: AccountKind = AccountKind.META,
        clock: Clock = utc_now,
    ) -> None:
        if not phone_number_id:
            raise ValidationError("A WhatsApp Cloud API account needs its phone number ID.")
        if not access_token and not api_key:
            raise ValidationError("A WhatsApp Cloud API account needs an access token or API key.")
        self.kind = kind
        self._client = client
        self._phone_number_id = phone_number_id
        self._waba_id = waba_id
        # Built once as httpx.Headers and URL: httpx copies these as they are, where a
        # dict and a str would be normalised and parsed again on every send.
        auth = {"X-API-Key": api_key} if api_key else {"Authorization": f"Bearer {access_token}"}
        self._headers = httpx.Headers(auth)
        self._json_headers = httpx.Headers({**auth, "Content-Type": "application/json"})
        self._app_secret = app_secret
        self._verify_token = verify_token
        self._webhook_secret = webhook_secret
        version = graph_version.strip().strip("/") or DEFAULT_GRAPH_VERSION
        if not version.startswith("v"):
            version = "v" + version
        self._root = f"{base_url.rstrip('/')}/{version}"
        messages_url = f"{self._root}/{quote(phone_number_id)}/messages"
        try:
            self._messages_url: httpx.URL | str = httpx.URL(messages_url)
        except httpx.InvalidURL:
            self._messages_url = messages_url  # refused at send time, as a failed request
        self._clock = clock

    # --- sending ----------------------------------------------------------------------

    async def send_text(self, to: str, text: str, *, reference: str) -> SendResult:
        return await self._send(
            to, {"type": "text", "text": {"body": text, "preview_url": False}}, reference
        )

    async def send_template(
        self, to: str, template: Template, variables: Mapping[str, str], *, reference: str
    ) -> SendResult:
        if not template.language.strip():
            return SendResult(
                error=base.refusal(
                    _DIALECT,
                    status=404,
                    code="132001",
                    detail=f"The template “{template.name}” has no language; sync the "
                    "templates from the provider.",
                )
            )
        payload: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
        components = template_components(template, variables)
        if components:
            payload["components"] = components
        return await self._send(to, {"type": "template", "template": payload}, reference)

    async def _send(self, to: str, content: dict[str, Any], reference: str) -> SendResult:
        message: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to.strip().removeprefix("+"),
            **content,
        }
        if reference:
            message["biz_opaque_callback_data"] = reference
        response = await base.request(
            self._client,
            _DIALECT,
            "POST",
            self._messages_url,
            content=base.json_content(message),
            headers=self._json_headers,
        )
        if isinstance(response, ProviderError):
            return SendResult(error=response)
        if not response.is_success:
            return SendResult(error=self._refusal(response))
        body = base.json_body(response)
        message_id = wa_id = None
        if isinstance(body, dict):
            messages, contacts = body.get("messages"), body.get("contacts")
            if isinstance(messages, list) and messages and isinstance(messages[0], dict):
                message_id = messages[0].get("id")
            if isinstance(contacts, list) and contacts and isinstance(contacts[0], dict):
                wa_id = contacts[0].get("wa_id")
        if not isinstance(message_id, str) or not message_id:
            return SendResult(
                error=base.bad_response(
                    _DIALECT, f"HTTP {response.status_code} without messages[0].id"
                )
            )
        return SendResult(
            provider_message_id=message_id,
            wa_id=str(wa_id) if isinstance(wa_id, str | int) and str(wa_id) else None,
        )

    def _refusal(self, response: httpx.Response) -> ProviderError:
        """The Graph error envelope ``{"error": {code, message, error_data: {details}, …}}``
        (§2.3); waits from ``Retry-After`` / ``X-RateLimit-Reset`` (Kapso) or Meta's
        ``x-business-use-case-usage``."""
        body = base.json_body(response)
        error = body.get("error") if isinstance(body, dict) else None
        code: Any = None
        detail = ""
        if isinstance(error, dict):
            code = error.get("code")
            data = error.get("error_data")
            details = data.get("details") if isinstance(data, dict) else None
            detail = str(details or error.get("error_user_msg") or error.get("message") or "")
        elif isinstance(body, dict) and isinstance(body.get("message"), str):
            detail = body["message"]  # Kapso's own refusals (its rate limit, a bad key)
        elif response.text.strip():
            detail = response.text.strip()[:200]
        now = self._clock()
        wait = base.retry_after_seconds(response, now=now)
        if wait is None:
            wait = _business_usage_wait(response.headers.get("x-business-use-case-usage"))
        return base.refusal(
            _DIALECT,
            status=response.status_code,
            code=code if isinstance(code, int | str) and str(code).strip() else None,
            detail=detail,
            retry_after=wait,
        )

    async def fetch_status(self, provider_message_id: str) -> StatusUpdate | None:
        return None  # no per-message GET on the Cloud API (§2.6); webhooks only

    # --- templates --------------------------------------------------------------------

    async def list_templates(self) -> list[Template]:
        """``GET /{waba_id}/message_templates`` page by page (§2.8)."""
        if not self._waba_id:
            raise ValidationError(
                "Listing templates needs the WhatsApp Business Account ID in the account settings."
            )
        url = f"{self._root}/{quote(self._waba_id)}/message_templates"
        params = [("fields", TEMPLATE_FIELDS), ("limit", str(_PAGE_SIZE))]
        templates: list[Template] = []
        now = self._clock()
        async for body in base.pages(
            self._get_json, url, params, lambda body: base.nested(body, "paging", "next")
        ):
            for item in body.get("data") or []:
                template = _template(item)
                if template is not None:
                    template.synced_at = now
                    templates.append(template)
        return templates

    async def _get_json(self, url: str, params: list[tuple[str, str]]) -> dict[str, Any]:
        return await base.get_json(
            self._client, _DIALECT, url, refusal=self._refusal, params=params, headers=self._headers
        )

    # --- health -----------------------------------------------------------------------

    async def check_health(self) -> HealthReport:
        """The phone number's status, quality rating, throughput and messaging limit
        (§2.9); fields Meta leaves out are simply not reported."""
        url = f"{self._root}/{quote(self._phone_number_id)}"
        response = await base.request(
            self._client,
            _DIALECT,
            "GET",
            url,
            params={"fields": HEALTH_FIELDS},
            headers=self._headers,
        )
        if not isinstance(response, ProviderError) and response.status_code == 400:
            error = self._refusal(response)
            if error.code == "100":  # a field this API version does not know: defaults only
                response = await base.request(
                    self._client, _DIALECT, "GET", url, headers=self._headers
                )
        if isinstance(response, ProviderError):
            return base.unhealthy(_DIALECT, response)
        if not response.is_success:
            return base.unhealthy(_DIALECT, self._refusal(response))
        body = base.json_body(response)
        if not isinstance(body, dict):
            return base.unhealthy(_DIALECT, base.bad_response(_DIALECT, "not a JSON object"))
        return _health(body)

    # --- webhooks ---------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> bool:
        """``X-Hub-Signature-256`` over the raw body with the app secret (§2.7). For Kapso,
        its own ``X-Webhook-Signature`` (hex HMAC-SHA256 with the webhook secret) when the
        request carries one, else Meta's header for forwarded Meta webhooks (§4)."""
        if self.kind is AccountKind.KAPSO:
            kapso = base.header(request.headers, "X-Webhook-Signature")
            if kapso is not None:
                if not self._webhook_secret:
                    return False
                given = kapso.strip().lower().removeprefix("sha256=")
                expected = signatures.kapso_signature(request.body, self._webhook_secret)
                return hmac.compare_digest(expected.encode(), given.encode())
        return signatures.meta_valid(
            request.body, base.header(request.headers, "X-Hub-Signature-256"), self._app_secret
        )

    def verify_subscription(self, query: Mapping[str, str]) -> str | None:
        """Meta's GET handshake: ``hub.challenge`` when ``hub.mode`` is ``subscribe`` and
        ``hub.verify_token`` matches ours (constant time); None to refuse."""
        if not self._verify_token or query.get("hub.mode") != "subscribe":
            return None
        token = query.get("hub.verify_token") or ""
        if not hmac.compare_digest(token.encode(), self._verify_token.encode()):
            return None
        challenge = query.get("hub.challenge")
        return challenge if challenge else None

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        try:
            return meta_webhooks.parse(request, now=self._clock())
        except Exception as exc:  # a webhook must never take the receiver down
            log.warning("meta webhook not understood (%s)", type(exc).__name__)
            return []


# --- building the template components -----------------------------------------------------


def template_components(template: Template, variables: Mapping[str, str]) -> list[dict[str, Any]]:
    """The ``template.components`` of a send (§2.2 b); see the module docstring for keys."""
    named = template.placeholder_format is PlaceholderFormat.NAMED
    components: list[dict[str, Any]] = []
    header = template.header or {}
    header_format = str(header.get("format") or "").upper()
    if header_format == "TEXT":
        parameters = []
        for name in _placeholder_names(str(header.get("text") or "")):
            value = variables.get(f"header:{name}")
            if value is None and named:
                value = variables.get(name)
            if value is not None:
                parameters.append(_text_parameter(name, value, named=named))
        if parameters:
            components.append({"type": "header", "parameters": parameters})
    elif header_format in ("IMAGE", "VIDEO", "DOCUMENT") and variables.get("header:link"):
        media = header_format.lower()
        components.append(
            {
                "type": "header",
                "parameters": [{"type": media, media: {"link": variables["header:link"]}}],
            }
        )
    body_parameters = [
        _text_parameter(name, variables[name], named=named)
        for name in _placeholder_names(template.body, fallback=variables)
        if name in variables
    ]
    if body_parameters:
        components.append({"type": "body", "parameters": body_parameters})
    for index, button in enumerate(template.buttons):
        value = variables.get(f"button:{index}")
        if value is not None and str(button.get("type") or "").upper() == "URL":
            components.append(
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": str(index),
                    "parameters": [{"type": "text", "text": value}],
                }
            )
    return components


def _text_parameter(name: str, value: str, *, named: bool) -> dict[str, str]:
    parameter = {"type": "text", "text": value}
    if named:
        parameter["parameter_name"] = name
    return parameter


def _placeholder_names(text: str, fallback: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The placeholders of ``text`` in send order; if ``text`` cannot be parsed, the plain
    keys of ``fallback`` (numbers in numeric order)."""
    names = _send_order(text)
    if names is None:
        if fallback is None:
            return ()
        keys = [k for k in fallback if ":" not in k]
        return tuple(sorted(keys, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0, k)))
    return names


@functools.lru_cache(maxsize=256)
def _send_order(text: str) -> tuple[str, ...] | None:
    """``parse_placeholders(text).send_order``, None when ``text`` cannot be parsed; cached,
    as a campaign sends the same template text to every recipient."""
    try:
        return parse_placeholders(text).send_order
    except ValidationError:
        return None


# --- answers -------------------------------------------------------------------------------


def _business_usage_wait(value: str | None) -> float | None:
    """Meta's ``x-business-use-case-usage`` (§2.4): the longest
    ``estimated_time_to_regain_access`` (minutes) of any entry, in seconds."""
    if not value:
        return None
    try:
        usage = json.loads(value)
    except ValueError:
        return None
    minutes = 0.0
    if isinstance(usage, dict):
        for entries in usage.values():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, dict):
                    wait = entry.get("estimated_time_to_regain_access")
                    if isinstance(wait, int | float) and not isinstance(wait, bool):
                        minutes = max(minutes, float(wait))
    return minutes * 60.0 if minutes > 0 else None


def _template(item: object) -> Template | None:
    """One ``message_templates`` item (§2.8) as a core Template."""
    if not isinstance(item, dict) or not item.get("name"):
        return None
    body, footer = "", None
    header: dict[str, Any] | None = None
    buttons: list[dict[str, Any]] = []
    for component in item.get("components") or []:
        if not isinstance(component, dict):
            continue
        kind = str(component.get("type") or "").upper()
        if kind == "HEADER":
            header = {k: v for k, v in component.items() if k != "type"}
        elif kind == "BODY":
            body = str(component.get("text") or "")
        elif kind == "FOOTER":
            footer = str(component.get("text") or "") or None
        elif kind == "BUTTONS":
            buttons = [b for b in component.get("buttons") or [] if isinstance(b, dict)]
    quality = item.get("quality_score")
    if isinstance(quality, dict):
        quality = quality.get("score")
    named = str(item.get("parameter_format") or "").upper() == "NAMED"
    return Template(
        account_id=None,
        kind=TemplateKind.APPROVED,
        name=str(item["name"]),
        body=body,
        language=str(item.get("language") or ""),
        category=str(item.get("category") or "").upper(),
        header=header,
        footer=footer,
        buttons=buttons,
        placeholder_format=PlaceholderFormat.NAMED if named else PlaceholderFormat.POSITIONAL,
        provider_ref=str(item["id"]) if item.get("id") is not None else None,
        status=str(item.get("status") or "").upper(),
        quality=str(quality or "").upper(),
    )


def _health(body: dict[str, Any]) -> HealthReport:
    """The report for ``GET /{phone_number_id}``; tolerant of any field missing."""
    throughput = body.get("throughput")
    if isinstance(throughput, dict):
        throughput = throughput.get("level")
    values = {
        "display_phone_number": body.get("display_phone_number"),
        "verified_name": body.get("verified_name"),
        "quality_rating": body.get("quality_rating"),
        "status": body.get("status"),
        "name_status": body.get("name_status"),
        "code_verification_status": body.get("code_verification_status"),
        "throughput": throughput,
        "messaging_limit": body.get("messaging_limit_tier"),
        "account_mode": body.get("account_mode"),
        "platform_type": body.get("platform_type"),
    }
    details = {k: str(v) for k, v in values.items() if v not in (None, "")}
    who = details.get("display_phone_number") or "The phone number"
    if "verified_name" in details:
        who = f"{who} ({details['verified_name']})"
    status = details.get("status", "").upper()
    quality = details.get("quality_rating", "").upper()
    if status and status not in _SENDING_STATUSES:
        if status == "PENDING":
            summary = f"{who} is not registered with the Cloud API yet; finish its setup in WhatsApp Manager."
        else:
            summary = f"{who} is {status.lower()}; check it in WhatsApp Manager."
        return HealthReport(False, summary, details)
    if quality == "RED" or status == "FLAGGED":
        summary = (
            f"{who} can send, but its quality rating is low ({quality or 'flagged'}): send fewer "
            "marketing messages, or WhatsApp may limit the number."
        )
    elif quality:
        summary = f"{who} is ready to send; quality rating {quality}."
    else:
        summary = f"{who} is ready to send."
    return HealthReport(True, summary, details)
