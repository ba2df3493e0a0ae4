"""Twilio Programmable Messaging, WhatsApp channel (providers.md §1).

Requests: form-encoded POST ``/2010-04-01/Accounts/{sid}/Messages.json`` with HTTP Basic
(Account SID, Auth Token). Templates are Content API items: ``ContentSid`` +
``ContentVariables`` (a JSON string), never ``Body`` with ``ContentSid``.

Our reference. When a status callback URL is set, each message's ``StatusCallback`` is
that URL with ``waapp_ref=<reference>`` added to its query: Twilio posts to that exact URL
and signs it, query included, so :meth:`TwilioProvider.parse_webhook` can hand the
reference back on every status update (the Meta module does the same through
``biz_opaque_callback_data``). The webhook receiver must pass the full URL Twilio called,
query included, as ``WebhookRequest.url`` — which signature checking needs anyway.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import httpx

from waapp.core import signatures
from waapp.core.catalogue import Dialect
from waapp.core.entities import AccountKind, PlaceholderFormat, Template, TemplateKind
from waapp.core.errors import ValidationError
from waapp.core.ports import (
    HealthReport,
    InboundText,
    ProviderError,
    SendResult,
    SentMessage,
    StatusUpdate,
    WebhookEvent,
    WebhookRequest,
)
from waapp.core.states import DeliveryStatus
from waapp.core.templates import parse_placeholders
from waapp.providers import base
from waapp.providers.base import Clock, log, utc_now
from waapp.providers.fields import TWILIO_BASE_URL, TWILIO_CONTENT_BASE_URL

__all__ = ["REFERENCE_PARAM", "TwilioProvider"]

_DIALECT = Dialect.TWILIO

#: The query parameter of ``StatusCallback`` that carries our reference back.
REFERENCE_PARAM = "waapp_ref"

#: Twilio message statuses that say something about delivery (providers.md §1.4). The
#: others (accepted, queued, sending, scheduled …) come before "sent" and are not reported.
_STATUSES: dict[str, DeliveryStatus] = {
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
    "undelivered": DeliveryStatus.FAILED,
}
_INBOUND_STATUSES = frozenset({"received", "receiving"})

_PAGE_SIZE = 100
_MESSAGES_PAGE_SIZE = 1000  # Twilio's largest page: one person's history fits in a few


class TwilioProvider:
    """One Twilio account. ``status_callback`` may be changed at any time (the tunnel's
    public URL); it applies to the next sends."""

    supports_polling = True
    dialect = _DIALECT

    def __init__(
        self,
        *,
        client: httpx.AsyncClient,
        account_sid: str,
        auth_token: str,
        sender: str = "",
        messaging_service_sid: str = "",
        status_callback: str = "",
        base_url: str = TWILIO_BASE_URL,
        content_base_url: str = TWILIO_CONTENT_BASE_URL,
        kind: AccountKind = AccountKind.TWILIO,
        clock: Clock = utc_now,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValidationError("A Twilio account needs its Account SID and Auth Token.")
        if not sender and not messaging_service_sid:
            raise ValidationError(
                "A Twilio account needs a WhatsApp sender number or a Messaging Service SID."
            )
        self.kind = kind
        self.status_callback = status_callback
        self._client = client
        self._account_sid = account_sid
        self._auth = httpx.BasicAuth(account_sid, auth_token)
        self._auth_token = auth_token
        self._from = _whatsapp_address(sender) if sender else ""
        self._service = messaging_service_sid
        self._base = base_url.rstrip("/")
        self._content_base = content_base_url.rstrip("/")
        self._clock = clock

    # --- sending ----------------------------------------------------------------------

    async def send_text(self, to: str, text: str, *, reference: str) -> SendResult:
        return await self._send(to, [("Body", text)], reference=reference)

    async def send_template(
        self, to: str, template: Template, variables: Mapping[str, str], *, reference: str
    ) -> SendResult:
        """``ContentSid`` = ``template.provider_ref`` (HX…) and ``ContentVariables`` =
        the variables as a JSON string; no ``Body`` (providers.md §1.2 b)."""
        content_sid = (template.provider_ref or "").strip()
        if not content_sid:
            return SendResult(
                error=base.refusal(
                    _DIALECT,
                    status=404,
                    code="63027",
                    detail=f"The template “{template.name}” has no Twilio content SID (HX…); "
                    "sync the templates from Twilio.",
                )
            )
        fields = [("ContentSid", content_sid)]
        if variables:
            fields.append(("ContentVariables", json.dumps(dict(variables), ensure_ascii=False)))
        return await self._send(to, fields, reference=reference)

    async def _send(self, to: str, content: list[tuple[str, str]], *, reference: str) -> SendResult:
        form: list[tuple[str, str]] = [("To", _whatsapp_address(to))]
        if self._from:
            form.append(("From", self._from))
        if self._service:
            form.append(("MessagingServiceSid", self._service))
        form.extend(content)
        callback = self.status_callback.strip()
        if callback:
            form.append(("StatusCallback", _with_reference(callback, reference)))
        url = f"{self._base}/2010-04-01/Accounts/{quote(self._account_sid)}/Messages.json"
        response = await base.request(
            self._client, _DIALECT, "POST", url, data=dict(_single(form)), auth=self._auth
        )
        if isinstance(response, ProviderError):
            return SendResult(error=response)
        if not response.is_success:
            return SendResult(error=self._refusal(response))
        body = base.json_body(response)
        sid = body.get("sid") if isinstance(body, dict) else None
        if not isinstance(sid, str) or not sid:
            return SendResult(
                error=base.bad_response(_DIALECT, f"HTTP {response.status_code} without a sid")
            )
        return SendResult(provider_message_id=sid)

    def _refusal(self, response: httpx.Response) -> ProviderError:
        """Twilio's legacy error body ``{code, message, more_info, status}``; twilio-python
        falls back to the HTTP status when ``code`` is absent (so do we: ``http_NNN``)."""
        body = base.json_body(response)
        code: Any = None
        detail = ""
        if isinstance(body, dict):
            code = body.get("code")
            detail = str(body.get("message") or body.get("detail") or "")
        elif response.text.strip():
            detail = response.text.strip()[:200]
        return base.refusal(
            _DIALECT,
            status=response.status_code,
            code=code if isinstance(code, int | str) and str(code).strip() else None,
            detail=detail,
            retry_after=base.retry_after_seconds(response, now=self._clock()),
        )

    # --- polling ----------------------------------------------------------------------

    async def fetch_status(self, provider_message_id: str) -> StatusUpdate | None:
        """GET the Message (providers.md §1.6). None while it is still queued or sending;
        raises :class:`~waapp.providers.base.ProviderRequestError` when Twilio cannot say
        (unknown sid included)."""
        url = (
            f"{self._base}/2010-04-01/Accounts/{quote(self._account_sid)}"
            f"/Messages/{quote(provider_message_id)}.json"
        )
        body = await self._get_json(url)
        status = _STATUSES.get(str(body.get("status") or "").lower())
        if status is None:
            return None
        error = None
        if status is DeliveryStatus.FAILED:
            error = base.async_failure(
                _DIALECT, _code_text(body.get("error_code")), str(body.get("error_message") or "")
            )
        return StatusUpdate(
            provider_message_id=str(body.get("sid") or provider_message_id),
            status=status,
            occurred_at=_rfc2822(body.get("date_updated")) or self._clock(),
            recipient=base.phone_e164(body.get("to")),
            error=error,
        )

    async def find_sent(self, to: str, *, since: datetime) -> list[SentMessage]:
        """The messages this account sent to ``to`` created at or after ``since``
        (providers.md §1.6, the Messages list): ``To`` and ``From`` (the sender; with only a
        Messaging Service, its SID is checked on each message instead), and no date filter:
        Twilio's ``DateSent`` filter is on the send date, which a message still queued at
        Twilio does not have yet, so such a message would be missed and sent twice. The
        creation time is compared here. Every page is read (``next_page_uri``); raises
        :class:`~waapp.providers.base.ProviderRequestError` when any page fails, the
        answer cannot be read, or there are more pages than :data:`~waapp.providers.base.MAX_PAGES`:
        a partial list could hide the message."""
        if since.tzinfo is None:
            raise ValueError("since must be an aware datetime")
        since = since.astimezone(UTC)
        address = _whatsapp_address(to)
        url = f"{self._base}/2010-04-01/Accounts/{quote(self._account_sid)}/Messages.json"
        first = [("To", address)]
        if self._from:
            first.append(("From", self._from))
        first.append(("PageSize", str(_MESSAGES_PAGE_SIZE)))
        found: list[SentMessage] = []
        try:
            async for body in base.pages(
                self._get_json, url, first, lambda body: body.get("next_page_uri"), complete=True
            ):
                items = body.get("messages")
                if not isinstance(items, list):
                    raise base.raise_for(
                        _DIALECT, base.bad_response(_DIALECT, "the message list has no messages")
                    )
                for item in items:
                    sent = self._sent_message(item, address, since)
                    if sent is not None:
                        found.append(sent)
        except base.PagesLeft:
            raise base.raise_for(
                _DIALECT,
                base.bad_response(
                    _DIALECT, f"more than {base.MAX_PAGES} pages of messages to {address}"
                ),
            ) from None
        return found

    def _sent_message(self, item: object, address: str, since: datetime) -> SentMessage | None:
        """One listed message, when it is an outbound one of ours to ``address`` created at
        or after ``since`` (one without a creation time is kept: it cannot be ruled out)."""
        if not isinstance(item, dict) or not isinstance(item.get("sid"), str):
            return None
        if not str(item.get("direction") or "").startswith("outbound"):
            return None
        if str(item.get("to") or "").replace(" ", "").lower() != address.lower():
            return None
        if self._from:
            if str(item.get("from") or "").replace(" ", "").lower() != self._from.lower():
                return None
        elif item.get("messaging_service_sid") != self._service:
            return None
        created = _rfc2822(item.get("date_created"))
        # RFC 2822 dates carry whole seconds: a message created in the same second counts.
        if created is not None and created < since.replace(microsecond=0):
            return None
        text = item.get("body")
        raw = str(item.get("status") or "").lower()
        status = _STATUSES.get(raw)
        error = None
        if status is DeliveryStatus.FAILED:
            error = base.async_failure(
                _DIALECT, _code_text(item.get("error_code")), str(item.get("error_message") or "")
            )
        return SentMessage(
            provider_message_id=item["sid"],
            to=base.phone_e164(item.get("to")) or address.removeprefix("whatsapp:"),
            created_at=created,
            body=text if isinstance(text, str) else None,
            status=status,
            status_at=_rfc2822(item.get("date_updated")),
            error=error,
        )

    async def _get_json(
        self, url: str, params: list[tuple[str, str]] | None = None
    ) -> dict[str, Any]:
        return await base.get_json(
            self._client, _DIALECT, url, refusal=self._refusal, params=params, auth=self._auth
        )

    # --- templates --------------------------------------------------------------------

    async def list_templates(self) -> list[Template]:
        """Every Content API item with its WhatsApp approval (``ContentAndApprovals``),
        page by page; ``provider_ref`` is the content SID."""
        url = f"{self._content_base}/ContentAndApprovals"
        templates: list[Template] = []
        now = self._clock()
        async for body in base.pages(
            self._get_json,
            url,
            [("PageSize", str(_PAGE_SIZE))],
            lambda body: base.nested(body, "meta", "next_page_url"),
        ):
            for item in body.get("contents") or []:
                template = _template(item)
                if template is not None:
                    template.synced_at = now
                    templates.append(template)
        return templates

    # --- health -----------------------------------------------------------------------

    async def check_health(self) -> HealthReport:
        """The account's ``status`` (providers.md §1.6): active, suspended or closed."""
        url = f"{self._base}/2010-04-01/Accounts/{quote(self._account_sid)}.json"
        response = await base.request(self._client, _DIALECT, "GET", url, auth=self._auth)
        if isinstance(response, ProviderError):
            return base.unhealthy(_DIALECT, response)
        if not response.is_success:
            return base.unhealthy(_DIALECT, self._refusal(response))
        body = base.json_body(response)
        if not isinstance(body, dict):
            return base.unhealthy(_DIALECT, base.bad_response(_DIALECT, "not a JSON object"))
        status = str(body.get("status") or "").lower()
        details = {
            key: str(body[field])
            for key, field in (
                ("account_status", "status"),
                ("friendly_name", "friendly_name"),
                ("account_type", "type"),
            )
            if body.get(field) not in (None, "")
        }
        if status == "active" or not status:
            return HealthReport(True, "The Twilio account is active.", details)
        if status == "suspended":
            summary = "Twilio has suspended this account; check the notices in the Twilio Console."
        elif status == "closed":
            summary = "This Twilio account is closed; use another account."
        else:
            summary = f"The Twilio account is {status}; check the Twilio Console."
        return HealthReport(False, summary, details)

    # --- webhooks ---------------------------------------------------------------------

    def verify_webhook(self, request: WebhookRequest) -> bool:
        """``X-Twilio-Signature`` over the URL Twilio called and the sorted form params;
        JSON bodies through the URL's ``bodySHA256`` (providers.md §1.9)."""
        signature = base.header(request.headers, "X-Twilio-Signature")
        if not signature:
            return False
        if "bodySHA256=" in urlsplit(request.url).query:
            return signatures.twilio_valid(
                request.url, {}, signature, self._auth_token, body=request.body
            )
        try:
            params = parse_qsl(
                request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False
            )
        except UnicodeDecodeError:
            return False
        return signatures.twilio_valid(request.url, params, signature, self._auth_token)

    def verify_subscription(self, query: Mapping[str, str]) -> str | None:
        return None  # Meta's handshake only

    def parse_webhook(self, request: WebhookRequest) -> list[WebhookEvent]:
        """A status callback (§1.7) or an inbound message (§1.8); [] for anything else.
        Twilio sends no timestamp: the time of receipt is used."""
        try:
            return self._parse(request)
        except Exception as exc:  # a webhook must never take the receiver down
            log.warning("twilio webhook not understood (%s)", type(exc).__name__)
            return []

    def _parse(self, request: WebhookRequest) -> list[WebhookEvent]:
        try:
            params = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            log.warning("twilio webhook: body is not UTF-8 form data")
            return []
        sid = params.get("MessageSid") or params.get("SmsSid") or params.get("SmsMessageSid")
        status = (params.get("MessageStatus") or params.get("SmsStatus") or "").lower()
        if not sid:
            log.warning("twilio webhook without MessageSid ignored")
            return []
        now = self._clock()
        if status in _INBOUND_STATUSES or (not status and "Body" in params):
            sender = base.phone_e164(params.get("From")) or base.phone_e164(params.get("WaId"))
            if sender is None:
                log.warning("twilio inbound message without a usable From ignored")
                return []
            text = params.get("Body") or params.get("ButtonText") or ""
            return [
                InboundText(from_phone=sender, body=text, received_at=now, provider_message_id=sid)
            ]
        delivery = _STATUSES.get(status)
        if delivery is None:
            return []  # queued, sending, accepted …: nothing to report yet
        error = None
        if delivery is DeliveryStatus.FAILED:
            detail = params.get("ChannelStatusMessage") or params.get("ErrorMessage") or ""
            error = base.async_failure(_DIALECT, params.get("ErrorCode"), detail)
        recipient = base.phone_e164(params.get("To")) or base.phone_e164(
            params.get("ChannelToAddress")
        )
        return [
            StatusUpdate(
                provider_message_id=sid,
                status=delivery,
                occurred_at=now,
                recipient=recipient,
                error=error,
                reference=_reference_of(request.url),
            )
        ]


# --- helpers ---------------------------------------------------------------------------------


def _whatsapp_address(number: str) -> str:
    """``+15551234567`` → ``whatsapp:+15551234567`` (an address given whole is kept)."""
    text = number.strip()
    if text.lower().startswith("whatsapp:"):
        return "whatsapp:" + text[len("whatsapp:") :].strip()
    if not text.startswith("+") and text.isdigit():
        text = "+" + text
    return "whatsapp:" + text


def _single(form: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Form fields in order; each name once (Twilio's WhatsApp sends repeat none)."""
    seen: dict[str, str] = {}
    for name, value in form:
        seen.setdefault(name, value)
    return list(seen.items())


def _with_reference(callback: str, reference: str) -> str:
    if not reference:
        return callback
    separator = "&" if urlsplit(callback).query else ("" if callback.endswith("?") else "?")
    return f"{callback}{separator}{REFERENCE_PARAM}={quote(reference, safe='')}"


def _reference_of(url: str) -> str | None:
    for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True):
        if name == REFERENCE_PARAM and value:
            return value
    return None


def _code_text(value: object) -> str | None:
    if value is None or isinstance(value, bool) or str(value).strip() in ("", "0"):
        return None
    return str(value).strip()


def _rfc2822(value: object) -> datetime | None:
    """Twilio's ``date_updated`` (RFC 2822) as aware UTC, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _template(item: object) -> Template | None:
    """One ``ContentAndApprovals`` item (providers.md §1.10) as a core Template."""
    if not isinstance(item, dict) or not isinstance(item.get("sid"), str):
        return None
    types = item.get("types") if isinstance(item.get("types"), dict) else {}
    body = ""
    header: dict[str, Any] | None = None
    buttons: list[dict[str, Any]] = []
    for spec in (types or {}).values():
        if not isinstance(spec, dict):
            continue
        if not body and isinstance(spec.get("body"), str):
            body = spec["body"]
        media = spec.get("media")
        if header is None and media:
            header = {"format": "MEDIA", "media": media if isinstance(media, list) else [media]}
        if header is None and isinstance(spec.get("title"), str):
            header = {"format": "TEXT", "text": spec["title"]}
        for action in spec.get("actions") or []:
            if isinstance(action, dict):
                buttons.append(_button(action))
    approval = item.get("approval_requests")
    approval = approval if isinstance(approval, dict) else {}
    variables = item.get("variables")
    named = isinstance(variables, dict) and any(not str(k).isdigit() for k in variables)
    return Template(
        account_id=None,
        kind=TemplateKind.APPROVED,
        name=str(item.get("friendly_name") or approval.get("name") or item["sid"]),
        body=body,
        language=str(item.get("language") or ""),
        category=str(approval.get("category") or "").upper(),
        header=header,
        buttons=buttons,
        placeholder_format=PlaceholderFormat.NAMED if named else _format_of(body),
        provider_ref=item["sid"],
        status=str(approval.get("status") or "unsubmitted").upper(),
    )


def _button(action: dict[str, Any]) -> dict[str, Any]:
    kind = str(action.get("type") or "QUICK_REPLY").upper()
    button: dict[str, Any] = {"type": kind, "text": str(action.get("title") or "")}
    if action.get("url"):
        button["url"] = str(action["url"])
    if action.get("phone"):
        button["phone_number"] = str(action["phone"])
    if action.get("id"):
        button["payload"] = str(action["id"])
    return button


def _format_of(body: str) -> PlaceholderFormat:
    try:
        return parse_placeholders(body).format
    except ValidationError:
        return PlaceholderFormat.POSITIONAL
