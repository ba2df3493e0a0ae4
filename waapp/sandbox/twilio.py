"""Twilio's dialect: the 2010 Messages API, the account, and the Content API (providers.md §1).

Paths as on ``api.twilio.com`` and ``content.twilio.com``; both are served by the Sandbox
itself, so a client points its API base URL **and** its content base URL at the Sandbox.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Awaitable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from waapp.sandbox.faults import Handler, guarded
from waapp.sandbox.scenario import FaultRule
from waapp.sandbox.templates import Template, twilio_approval_status, twilio_content_json
from waapp.sandbox.world import Failure, Inbound, Message, parse_recipient

if TYPE_CHECKING:
    from waapp.sandbox.server import Sandbox

API_VERSION = "2010-04-01"
CHANNEL_INSTALL_SID = "XE" + "0" * 32
MESSAGING_SERVICE_SENDER = "MG"
BODY_MAX_CHARS = 1600
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_STATUS = {
    "accepted": "queued",
    "queued": "queued",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "failed": "failed",
}


def rfc2822(at: float | None) -> str | None:
    """Twilio's date format, ``Thu, 24 Aug 2023 05:01:45 +0000`` (locale-independent)."""
    if at is None:
        return None
    t = time.gmtime(at)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def error_body(code: int, message: str, status: int) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def message_json(message: Message, account_sid: str) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{message.id}"
    sender = message.sender
    service = sender if sender.startswith(MESSAGING_SERVICE_SENDER) else None
    failure = message.failure if message.status == "failed" else None
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": message.text or "",
        "date_created": rfc2822(message.time),
        "date_sent": rfc2822(message.sent_at),
        "date_updated": rfc2822(message.updated or message.time),
        "direction": "outbound-api",
        "error_code": failure.code if failure else None,
        "error_message": failure.title if failure else None,
        "from": None if service else sender,
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": message.id,
        "status": _STATUS[message.status],
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": "whatsapp:" + message.to,
        "uri": f"{uri}.json",
    }


def inbound_json(inbound: Inbound, account_sid: str, sender: str) -> dict[str, Any]:
    uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{inbound.id}"
    stamp = rfc2822(inbound.at)
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "body": inbound.text,
        "date_created": stamp,
        "date_sent": stamp,
        "date_updated": stamp,
        "direction": "inbound",
        "error_code": None,
        "error_message": None,
        "from": "whatsapp:" + inbound.phone,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": inbound.id,
        "status": "received",
        "subresource_uris": {"media": f"{uri}/Media.json"},
        "to": "whatsapp:" + sender,
        "uri": f"{uri}.json",
    }


# --- webhooks (providers.md §1.7, §1.8) ------------------------------------------------------


def status_params(
    message: Message, status: str, account_sid: str, sender: str
) -> list[tuple[str, str]]:
    """A status callback's form; ``sender`` (E.164) stands in ``From`` when the message went
    through a Messaging Service."""
    via_service = message.sender.startswith(MESSAGING_SERVICE_SENDER)
    params = [
        ("SmsSid", message.id),
        ("SmsStatus", status),
        ("MessageStatus", status),
        ("ChannelToAddress", message.to),
        ("To", "whatsapp:" + message.to),
        ("ChannelPrefix", "whatsapp"),
        ("MessageSid", message.id),
        ("AccountSid", account_sid),
        ("From", "whatsapp:" + sender if via_service else message.sender),
        ("ApiVersion", API_VERSION),
        ("ChannelInstallSid", CHANNEL_INSTALL_SID),
        ("StructuredMessage", "false"),
    ]
    if via_service:
        params.append(("MessagingServiceSid", message.sender))
    if status in ("delivered", "read"):
        params.append(("EventType", status.upper()))
    if status == "failed" and message.failure is not None:
        failure = message.failure
        params += [
            ("ErrorCode", str(failure.code)),
            ("ErrorMessage", failure.title),
            ("ChannelStatusMessage", failure.details),
            ("EventType", "UNDELIVERED"),
        ]
    return params


def inbound_params(inbound: Inbound, account_sid: str, sender: str) -> list[tuple[str, str]]:
    params = [
        ("SmsMessageSid", inbound.id),
        ("NumMedia", "0"),
        ("ProfileName", inbound.name),
        ("MessageType", "text"),
        ("SmsSid", inbound.id),
        ("WaId", inbound.phone[1:]),
        ("SmsStatus", "received"),
        ("Body", inbound.text),
        ("To", "whatsapp:" + sender),
        ("NumSegments", "1"),
        ("ReferralNumMedia", "0"),
        ("MessageSid", inbound.id),
        ("AccountSid", account_sid),
        ("From", "whatsapp:" + inbound.phone),
        ("ApiVersion", API_VERSION),
    ]
    if inbound.reply_to is not None and inbound.text != "STOP":
        params += [
            ("OriginalRepliedMessageSender", inbound.reply_to.sender),
            ("OriginalRepliedMessageSid", inbound.reply_to.id),
        ]
    return params


# --- the API ---------------------------------------------------------------------------------


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers=headers,
        content_type="application/json",
    )


def _parse_when(text: str, *, end_of_day: bool) -> float | None:
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return (start + timedelta(days=1) if end_of_day else start).timestamp()
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    except ValueError:
        return None


#: The date filters of the Messages list, as a client writes them in the URL:
#: ``DateSent>=2024-05-01`` reaches the server as the parameter ``DateSent>`` (the ``=`` is
#: the separator); a client that encodes the whole ``DateSent>=`` as the name is served too.
_LOW_KEYS = ("DateSent>", "DateSent>=")
_HIGH_KEYS = ("DateSent<", "DateSent<=")


def _date_bounds(query: Mapping[str, str]) -> tuple[float | None, float | None] | str:
    """(low, high) unix times from ``DateSent`` (that whole day, or that instant),
    ``DateSent>`` (on or after) and ``DateSent<`` (on or before; a day counts whole);
    the name of the first unreadable filter instead."""
    low = high = None
    if "DateSent" in query:
        low = _parse_when(query["DateSent"], end_of_day=False)
        high = _parse_when(query["DateSent"], end_of_day=True)
        if low is None or high is None:
            return "DateSent"
    for keys, end_of_day in ((_LOW_KEYS, False), (_HIGH_KEYS, True)):
        for key in keys:
            if key not in query:
                continue
            value = _parse_when(query[key], end_of_day=end_of_day)
            if value is None:
                return key
            if end_of_day:
                high = value if high is None else min(high, value)
            else:
                low = value if low is None else max(low, value)
    return low, high


class TwilioApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._auth_cache: tuple[str, str, str] = ("", "", "")

    def routes(self) -> list[web.RouteDef]:
        messages = f"/{API_VERSION}/Accounts/{{sid}}/Messages"
        return [
            web.post(f"{messages}.json", self.create_message),
            web.get(f"{messages}.json", self.list_messages),
            web.get(f"{messages}/{{message_sid}}.json", self.fetch_message),
            web.get(f"/{API_VERSION}/Accounts/{{sid}}.json", self.fetch_account),
            web.get("/v1/Content", self.list_content),
            web.get("/v1/ContentAndApprovals", self.list_content_and_approvals),
            web.get("/v1/Content/{content_sid}", self.fetch_content),
            web.get("/v1/Content/{content_sid}/ApprovalRequests", self.fetch_approval),
        ]

    # --- shared checks ---

    def _error(self, code: int, message: str, status: int) -> web.Response:
        status = self._sandbox.world.scenario.http_status_for("twilio", code, status)
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if status == 401 else None
        return _json(error_body(code, message, status), status, headers)

    def fault_answer(self, name: str, rule: FaultRule) -> web.Response:
        if name == "rate_limit":
            return self._too_many(rule.retry_after)
        status = rule.status
        code = 20503 if status == 503 else 20500
        return _json(
            error_body(
                code, "Service Unavailable" if status == 503 else "Internal Server Error", status
            ),
            status,
        )

    def _too_many(self, retry_after: int | None = None) -> web.Response:
        scenario = self._sandbox.world.scenario
        status = scenario.http_status_for("twilio", 20429, 429)
        headers = {"Twilio-Concurrent-Requests": str(self._sandbox.world.twilio_in_flight)}
        if retry_after is None:
            retry_after = scenario.twilio_retry_after
        if retry_after is not None:
            headers["Retry-After"] = str(retry_after)
        return _json(error_body(20429, "Too Many Requests", status), status, headers)

    def _authorized(self, request: web.Request) -> bool:
        settings = self._sandbox.settings.twilio
        sid, token, expected = self._auth_cache
        if sid != settings.account_sid or token != settings.auth_token:
            credentials = base64.b64encode(
                f"{settings.account_sid}:{settings.auth_token}".encode()
            ).decode()
            expected = "Basic " + credentials
            self._auth_cache = (settings.account_sid, settings.auth_token, expected)
        return request.headers.get("Authorization") == expected

    def _check_account(self, request: web.Request, sid: str | None) -> web.Response | None:
        if not self._authorized(request):
            return self._error(20003, "Authenticate", 401)
        if sid is not None and sid != self._sandbox.settings.twilio.account_sid:
            return self._error(20404, f"The requested resource {request.path} was not found", 404)
        if self._sandbox.world.account_error("twilio") is not None:
            return self._error(20003, "Authenticate", 401)
        return None

    def _read(self, request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        return guarded(self._sandbox.faults, request, "twilio", self.fault_answer, handler)

    # --- Messages ---

    async def create_message(self, request: web.Request) -> web.StreamResponse:
        world = self._sandbox.world
        world.twilio_in_flight += 1
        try:
            return await guarded(
                self._sandbox.faults,
                request,
                "twilio",
                self.fault_answer,
                lambda: self._create(request),
                send=True,
            )
        finally:
            world.twilio_in_flight -= 1

    async def _create(self, request: web.Request) -> web.StreamResponse:
        sandbox = self._sandbox
        world = sandbox.world
        problem = self._check_account(request, request.match_info["sid"])
        if problem is not None:
            return problem
        limit = world.scenario.twilio_concurrency
        if limit is not None and world.twilio_in_flight > limit:
            return self._too_many()
        form = await request.post()
        to = form.get("To")
        if not isinstance(to, str) or not to:
            return self._error(21604, "A 'To' phone number is required.", 400)
        e164 = parse_recipient(to)
        if not to.lower().startswith("whatsapp:+") or e164 is None:
            return self._error(21211, f"Invalid 'To' Phone Number: {to}", 400)
        sender = form.get("From")
        service = form.get("MessagingServiceSid")
        if isinstance(sender, str) and sender:
            if not sender.lower().startswith("whatsapp:"):
                return self._error(
                    21910,
                    "Invalid From and To pair. From and To should be of the same channel",
                    400,
                )
        elif isinstance(service, str) and service.startswith("MG"):
            sender = service
        else:
            return self._error(21603, "A 'From' phone number is required.", 400)
        content_sid = form.get("ContentSid")
        variables_text = form.get("ContentVariables")
        body = form.get("Body")
        template: Template | None = None
        variables: dict[str, str] | None = None
        if content_sid:
            template = world.templates_by_sid.get(str(content_sid))
            if template is None:
                return self._error(21655, "The ContentSid is Invalid.", 400)
            variables = template.default_values()
            if variables_text:
                try:
                    given = json.loads(str(variables_text))
                except ValueError:
                    given = None
                if not isinstance(given, dict):
                    return self._error(21656, "The ContentVariables Parameter is invalid.", 400)
                variables.update({str(k): str(v) for k, v in given.items()})
            text = template.render(variables)
            kind = "template"
        else:
            if variables_text:
                return self._error(21654, "ContentVariables requires ContentSid.", 400)
            media = form.get("MediaUrl")
            if not body and not media:
                return self._error(21602, "Message body is required.", 400)
            text = str(body or "")
            if len(text) > BODY_MAX_CHARS:
                return self._error(
                    21617, "The concatenated message body exceeds the 1600 character limit.", 400
                )
            kind = "media" if media else "text"
        callback = form.get("StatusCallback")
        if callback:
            parts = urlsplit(str(callback))
            if parts.scheme not in ("http", "https") or not parts.hostname or "_" in parts.hostname:
                return self._error(21609, "Invalid StatusCallback", 400)
        now = time.time()
        failure: Failure | None = world.async_failure("twilio", e164, kind, template, now)
        message = Message(
            id=world.twilio_sid(),
            dialect="twilio",
            to=e164,
            type=kind,
            text=text,
            template=template.name if template else None,
            language=template.language if template else None,
            variables=variables,
            time=now,
            attempt=0,
            sender=str(sender),
            callback_url=str(callback) if callback else None,
        )
        world.accept(message, failure, template)
        after = sandbox.faults.after_fires("twilio") if world.scenario.has_faults else None
        if after is not None:
            return await sandbox.faults.after(request, after)
        return _json(message_json(message, sandbox.settings.twilio.account_sid), 201)

    async def fetch_message(self, request: web.Request) -> web.StreamResponse:
        async def handle() -> web.StreamResponse:
            problem = self._check_account(request, request.match_info["sid"])
            if problem is not None:
                return problem
            sid = request.match_info["message_sid"]
            account_sid = self._sandbox.settings.twilio.account_sid
            message = self._sandbox.world.by_id.get(sid)
            if message is not None and message.dialect == "twilio":
                return _json(message_json(message, account_sid))
            for inbound in self._sandbox.world.inbound:
                if inbound.id == sid:
                    return _json(
                        inbound_json(inbound, account_sid, self._sandbox.settings.twilio.sender)
                    )
            return self._error(20404, f"The requested resource {request.path} was not found", 404)

        return await self._read(request, handle)

    def _listing(self) -> list[tuple[float, Message | Inbound]]:
        """Every Twilio message, outbound and inbound, newest first by creation time.

        The order must not change while a client pages through it: the time a message was
        accepted never changes (its send time does, as statuses progress), and the sort is
        stable for equal times."""
        world = self._sandbox.world
        records: list[tuple[float, Message | Inbound]] = [
            (m.time, m) for m in world.messages if m.dialect == "twilio"
        ]
        records += [(i.at, i) for i in world.inbound if i.dialect in (None, "twilio")]
        records.sort(key=lambda record: record[0], reverse=True)
        return records

    async def list_messages(self, request: web.Request) -> web.StreamResponse:
        async def handle() -> web.StreamResponse:
            sid = request.match_info["sid"]
            problem = self._check_account(request, sid)
            if problem is not None:
                return problem
            query = request.query
            try:
                size = max(1, min(1000, int(query.get("PageSize", "50"))))
                page = max(0, int(query.get("Page", "0")))
            except ValueError:
                return self._error(20001, "Invalid paging parameter", 400)
            to = query.get("To")
            sender = query.get("From")
            bounds = _date_bounds(query)
            if isinstance(bounds, str):
                return self._error(20001, f"Invalid {bounds} parameter", 400)
            low, high = bounds
            settings = self._sandbox.settings.twilio
            records = []
            for sent, record in self._listing():
                if low is not None and sent < low:
                    continue
                if high is not None and sent > high:
                    continue
                if isinstance(record, Message):
                    item = message_json(record, settings.account_sid)
                else:
                    item = inbound_json(record, settings.account_sid, settings.sender)
                if to is not None and item["to"] != to:
                    continue
                if sender is not None and item["from"] != sender:
                    continue
                records.append(item)
            start = page * size
            chosen = records[start : start + size]
            filters = [
                (k, v) for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")
            ]
            path = f"/{API_VERSION}/Accounts/{sid}/Messages.json"

            def page_uri(number: int) -> str:
                params = [*filters, ("PageSize", str(size)), ("Page", str(number))]
                if 0 < number * size <= len(records):
                    params.append(("PageToken", f"PA{records[number * size - 1]['sid']}"))
                return f"{path}?{urlencode(params)}"

            has_next = start + size < len(records)
            return _json(
                {
                    "messages": chosen,
                    "page": page,
                    "page_size": size,
                    "start": start,
                    "end": start + max(0, len(chosen) - 1),
                    "uri": page_uri(page),
                    "first_page_uri": page_uri(0),
                    "next_page_uri": page_uri(page + 1) if has_next else None,
                    "previous_page_uri": page_uri(page - 1) if page > 0 else None,
                }
            )

        return await self._read(request, handle)

    async def fetch_account(self, request: web.Request) -> web.StreamResponse:
        async def handle() -> web.StreamResponse:
            sid = request.match_info["sid"]
            problem = self._check_account(request, sid)
            if problem is not None:
                return problem
            base = f"/{API_VERSION}/Accounts/{sid}"
            stamp = rfc2822(self._sandbox.started_at)
            return _json(
                {
                    "date_created": stamp,
                    "date_updated": stamp,
                    "friendly_name": "waapp Sandbox",
                    "owner_account_sid": sid,
                    "sid": sid,
                    "status": "active",
                    "type": "Full",
                    "subresource_uris": {"messages": f"{base}/Messages.json"},
                    "uri": f"{base}.json",
                }
            )

        return await self._read(request, handle)

    # --- Content API ---

    def _content_items(self, request: web.Request, approvals: bool) -> list[dict[str, Any]]:
        sandbox = self._sandbox
        world = sandbox.world
        base = f"{request.scheme}://{request.host}"
        pending = world.scenario.twilio_pending_status
        return [
            twilio_content_json(
                template,
                account_sid=sandbox.settings.twilio.account_sid,
                base_url=base,
                approval_status=twilio_approval_status(world.template_status(template), pending)
                if approvals
                else None,
            )
            for template in world.templates.values()
        ]

    async def _content_page(
        self, request: web.Request, path: str, approvals: bool
    ) -> web.StreamResponse:
        problem = self._check_account(request, None)
        if problem is not None:
            return problem
        try:
            size = max(1, min(1000, int(request.query.get("PageSize", "50"))))
            page = max(0, int(request.query.get("Page", "0")))
        except ValueError:
            return self._error(20001, "Invalid paging parameter", 400)
        items = self._content_items(request, approvals)
        start = page * size
        base = f"{request.scheme}://{request.host}{path}"

        def url(number: int) -> str:
            params = [("PageSize", str(size)), ("Page", str(number))]
            if 0 < number * size <= len(items):
                params.append(("PageToken", f"PT{items[number * size - 1]['sid']}"))
            return f"{base}?{urlencode(params)}"

        return _json(
            {
                "contents": items[start : start + size],
                "meta": {
                    "page": page,
                    "page_size": size,
                    "first_page_url": url(0),
                    "previous_page_url": url(page - 1) if page > 0 else None,
                    "url": url(page),
                    "next_page_url": url(page + 1) if start + size < len(items) else None,
                    "key": "contents",
                },
            }
        )

    async def list_content(self, request: web.Request) -> web.StreamResponse:
        return await self._read(request, lambda: self._content_page(request, "/v1/Content", False))

    async def list_content_and_approvals(self, request: web.Request) -> web.StreamResponse:
        return await self._read(
            request, lambda: self._content_page(request, "/v1/ContentAndApprovals", True)
        )

    def _content(self, request: web.Request) -> Template | None:
        return self._sandbox.world.templates_by_sid.get(request.match_info["content_sid"])

    async def fetch_content(self, request: web.Request) -> web.StreamResponse:
        async def handle() -> web.StreamResponse:
            problem = self._check_account(request, None)
            if problem is not None:
                return problem
            template = self._content(request)
            if template is None:
                return self._error(
                    20404, f"The requested resource {request.path} was not found", 404
                )
            return _json(
                twilio_content_json(
                    template,
                    account_sid=self._sandbox.settings.twilio.account_sid,
                    base_url=f"{request.scheme}://{request.host}",
                    approval_status=None,
                )
            )

        return await self._read(request, handle)

    async def fetch_approval(self, request: web.Request) -> web.StreamResponse:
        async def handle() -> web.StreamResponse:
            problem = self._check_account(request, None)
            if problem is not None:
                return problem
            template = self._content(request)
            if template is None:
                return self._error(
                    20404, f"The requested resource {request.path} was not found", 404
                )
            world = self._sandbox.world
            status = twilio_approval_status(
                world.template_status(template), world.scenario.twilio_pending_status
            )
            return _json(
                {
                    "sid": template.content_sid,
                    "account_sid": self._sandbox.settings.twilio.account_sid,
                    "url": f"{request.scheme}://{request.host}/v1/Content/{template.content_sid}/ApprovalRequests",
                    "whatsapp": {
                        "type": "whatsapp",
                        "name": template.name,
                        "category": template.category,
                        "content_type": "twilio/text",
                        "status": status,
                        "rejection_reason": "",
                        "allow_category_change": True,
                        "flows": None,
                    },
                }
            )

        return await self._read(request, handle)
