"""Meta's dialect: the WhatsApp Cloud API on the Graph paths (providers.md §2).

``/v{XX.X}/{phone_number_id}/messages``, ``/v{XX.X}/{waba_id}/message_templates``,
``/v{XX.X}/{waba_id}/phone_numbers`` and ``/v{XX.X}/{node}`` for the phone number, the
WABA and single templates. Any Graph version is accepted. Kapso's proxy speaks the same.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import json
import time
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from aiohttp import web

from waapp.core.phones import display_phone
from waapp.sandbox.faults import Handler, guarded
from waapp.sandbox.scenario import FaultRule
from waapp.sandbox.templates import TEMPLATES, Template, meta_parameters, meta_template_json
from waapp.sandbox.world import Inbound, Message, parse_recipient

if TYPE_CHECKING:
    from waapp.sandbox.server import Sandbox

VERSION = "{version:v[0-9]+\\.[0-9]+}"
TEXT_MAX_CHARS = 4096
MEDIA_TYPES = ("image", "video", "audio", "document", "sticker")
OTHER_TYPES = ("interactive", "location", "contacts", "reaction")
ERROR_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
_trace = itertools.count(1)
_CATEGORIES = {template.name: template.category.lower() for template in TEMPLATES}

#: Meta's wording for the codes the Sandbox answers with (pywa ``errors.py``, providers.md §2.3).
RATE_LIMITS: dict[int, tuple[str, str]] = {
    130429: ("(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
    131056: (
        "(#131056) (Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone "
        "number to the same phone number in a short period of time.",
    ),
    80007: (
        "(#80007) Rate limit issues",
        "The WhatsApp Business Account has reached its rate limit.",
    ),
    4: ("(#4) Application request limit reached", "The app has reached its API call rate limit."),
}
ACCOUNT_ERRORS: dict[int, tuple[str, str | None, int | None]] = {
    190: (
        "Error validating access token: Session has expired on Thursday, 01-Jan-26 00:00:00 PST.",
        None,
        463,
    ),
    368: (
        "(#368) Temporarily blocked for policies violations",
        "The account has been temporarily blocked for violating WhatsApp policies.",
        None,
    ),
    131031: ("(#131031) Business Account locked", "Account has been locked.", None),
    131005: (
        "(#131005) Access denied",
        "Permission has not been granted or has been removed.",
        None,
    ),
    131042: (
        "(#131042) Business eligibility payment issue",
        "There was an error related to your payment method.",
        None,
    ),
    131045: (
        "(#131045) Incorrect certificate",
        "Message failed to send due to a phone number registration error.",
        None,
    ),
}


def graph_error(
    code: int,
    message: str,
    *,
    details: str | None = None,
    subcode: int | None = None,
    error_type: str = "OAuthException",
    transient: bool | None = None,
) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    if details is not None:
        error["error_data"] = {"messaging_product": "whatsapp", "details": details}
    if transient is not None:
        error["is_transient"] = transient
    error["fbtrace_id"] = f"ASandbox{next(_trace):014d}"
    return {"error": error}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(), status=status, content_type="application/json"
    )


# --- webhooks (providers.md §2.5) ---------------------------------------------------------------


def status_object(message: Message, status: str, now: float) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": message.id,
        "status": status,
        "timestamp": str(int(now)),
        "recipient_id": message.wa_id,
    }
    if message.opaque is not None:
        item["biz_opaque_callback_data"] = message.opaque
    if status == "failed" and message.failure is not None:
        failure = message.failure
        item["errors"] = [
            {
                "code": failure.code,
                "title": failure.title,
                "message": failure.title,
                "error_data": {"details": failure.details},
                "href": ERROR_HREF,
            }
        ]
    elif status in ("sent", "delivered"):
        service = message.type != "template"
        category = "service" if service else _CATEGORIES.get(message.template or "", "utility")
        item["pricing"] = {
            "billable": not service,
            "pricing_model": "PMP",
            "category": category,
            "type": "free_customer_service" if service else "regular",
        }
    return item


def envelope(
    sandbox: Sandbox,
    key: str,
    items: list[dict[str, Any]],
    *,
    style: str = "statuses",
    contacts: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``whatsapp_business_account`` webhook around ``items`` (statuses or messages):
    all in one ``value`` (``style="statuses"``) or one entry each (``"entries"``)."""
    settings = sandbox.settings.meta

    def value(
        chunk: list[dict[str, Any]], people: list[dict[str, Any]] | None = contacts
    ) -> dict[str, Any]:
        result: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "metadata": {
                "display_phone_number": settings.display_phone_number,
                "phone_number_id": settings.phone_number_id,
            },
        }
        if people:
            result["contacts"] = people
        result[key] = chunk
        return result

    if style == "entries" and len(items) > 1:
        people = (
            contacts
            if contacts is not None and len(contacts) == len(items)
            else [None] * len(items)
        )
        entries = [
            {
                "id": settings.waba_id,
                "changes": [
                    {"value": value([item], [person] if person else None), "field": "messages"}
                ],
            }
            for item, person in zip(items, people, strict=True)
        ]
    else:
        entries = [
            {"id": settings.waba_id, "changes": [{"value": value(items), "field": "messages"}]}
        ]
    return {"object": "whatsapp_business_account", "entry": entries}


def inbound_payload(sandbox: Sandbox, inbound: Inbound, wamid: str) -> dict[str, Any]:
    wa_id = sandbox.world.wa_id(inbound.phone)
    message: dict[str, Any] = {
        "from": wa_id,
        "id": wamid,
        "timestamp": str(int(inbound.at)),
        "type": "text",
        "text": {"body": inbound.text},
    }
    contacts = [
        {
            "profile": {"name": inbound.name},
            "wa_id": wa_id,
            "user_id": sandbox.world.user_id(inbound.phone),
        }
    ]
    return envelope(sandbox, "messages", [message], contacts=contacts)


def status_contacts(sandbox: Sandbox, messages: list[Message]) -> list[dict[str, Any]]:
    """``value.contacts`` of a status webhook: each recipient once, in order (newer payloads
    carry it with the BSUID, providers.md §2.5; pywa reads it)."""
    seen: dict[str, dict[str, Any]] = {}
    for message in messages:
        if message.to not in seen:
            seen[message.to] = {
                "wa_id": message.wa_id,
                "user_id": sandbox.world.user_id(message.to),
            }
    return list(seen.values())


# --- the API ------------------------------------------------------------------------------------


def _cursor(index: int) -> str:
    return base64.urlsafe_b64encode(f"sandbox:{index}".encode()).decode().rstrip("=")


def _index(cursor: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        prefix, _, number = text.partition(":")
        return int(number) if prefix == "sandbox" else None
    except (ValueError, UnicodeDecodeError):
        return None


def _select(data: dict[str, Any], fields: str | None) -> dict[str, Any]:
    if not fields:
        return data
    wanted = {f.split("{", 1)[0].split(".", 1)[0].strip() for f in fields.split(",")}
    return {k: v for k, v in data.items() if k == "id" or k in wanted}


class MetaApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._auth_cache: tuple[str, str] = ("", "")

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post(f"/{VERSION}/{{node}}/messages", self.send_message),
            web.get(f"/{VERSION}/{{node}}/message_templates", self.list_templates),
            web.get(f"/{VERSION}/{{node}}/phone_numbers", self.list_phone_numbers),
            web.get(f"/{VERSION}/{{node}}", self.fetch_node),
        ]

    # --- shared ---

    def _error(
        self, code: int, message: str, *, default_status: int = 400, **extra: Any
    ) -> web.Response:
        status = self._sandbox.world.scenario.http_status_for("meta", code, default_status)
        return _json(graph_error(code, message, **extra), status)

    def fault_answer(self, name: str, rule: FaultRule) -> web.Response:
        if name == "rate_limit":
            code = rule.code if rule.code in RATE_LIMITS else 130429
            response = self._rate_limited(code)
            if rule.retry_after is not None:
                response.headers["Retry-After"] = str(rule.retry_after)
            return response
        if rule.status == 503:
            body = graph_error(
                131016,
                "(#131016) Service unavailable",
                details="A service is temporarily unavailable.",
                transient=True,
            )
        else:
            body = graph_error(
                131000,
                "(#131000) Something went wrong",
                details="Message failed to send due to an unknown error.",
                transient=True,
            )
        return _json(body, rule.status)

    def _rate_limited(self, code: int) -> web.Response:
        message, details = RATE_LIMITS[code]
        return self._error(code, message, details=details)

    def _authorized(self, request: web.Request) -> bool | None:
        """True, False (wrong token), or None (no token at all)."""
        token = self._sandbox.settings.meta.access_token
        if self._auth_cache[0] != token:
            self._auth_cache = (token, "Bearer " + token)
        header = request.headers.get("Authorization")
        if header is not None:
            return header == self._auth_cache[1]
        api_key = request.headers.get("X-API-Key")  # Kapso in front of Meta (providers.md §4)
        if api_key is not None:
            return hmac.compare_digest(api_key, self._sandbox.settings.meta.api_key)
        query_token = request.query.get("access_token")
        if query_token is None:
            return None
        return query_token == token

    def _check_auth(self, request: web.Request) -> web.Response | None:
        authorized = self._authorized(request)
        if authorized is None:
            return self._error(
                104, "An access token is required to request this resource.", default_status=401
            )
        if not authorized:
            return self._error(
                190, "Invalid OAuth access token - Cannot parse access token", default_status=401
            )
        error = self._sandbox.world.account_error("meta")
        if error is not None:
            message, details, subcode = ACCOUNT_ERRORS[error.code]
            return self._error(
                error.code,
                message,
                details=details,
                subcode=subcode,
                default_status=401 if error.code == 190 else 400,
            )
        return None

    def _unknown_node(self, request: web.Request, method: str = "get") -> web.Response:
        node = request.match_info["node"]
        return self._error(
            100,
            f"Unsupported {method} request. Object with ID '{node}' does not exist, cannot be loaded "
            "due to missing permissions, or does not support this operation. Please read the Graph "
            "API documentation at https://developers.facebook.com/docs/graph-api",
            subcode=33,
            error_type="GraphMethodException",
        )

    def _read(self, request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
        return guarded(self._sandbox.faults, request, "meta", self.fault_answer, handler)

    # --- sending ---

    async def send_message(self, request: web.Request) -> web.StreamResponse:
        return await guarded(
            self._sandbox.faults,
            request,
            "meta",
            self.fault_answer,
            lambda: self._send(request),
            send=True,
        )

    async def _send(self, request: web.Request) -> web.StreamResponse:
        sandbox = self._sandbox
        world = sandbox.world
        problem = self._check_auth(request)
        if problem is not None:
            return problem
        if request.match_info["node"] != sandbox.settings.meta.phone_number_id:
            return self._unknown_node(request, "post")
        try:
            data = await request.json()
        except ValueError:
            return self._error(
                100, "(#100) Invalid parameter", details="The request body is not valid JSON."
            )
        if not isinstance(data, Mapping):
            return self._error(
                100, "(#100) Invalid parameter", details="The request body must be a JSON object."
            )
        if data.get("messaging_product") != "whatsapp":
            return self._error(100, "(#100) The parameter messaging_product is required.")
        recipient_type = data.get("recipient_type", "individual")
        if recipient_type != "individual":
            return self._error(
                131009,
                "(#131009) Parameter value is not valid",
                details="The Sandbox only sends to individual recipients.",
            )
        to = data.get("to")
        if not isinstance(to, str | int) or not str(to):
            return self._error(100, "(#100) The parameter to is required.")
        e164 = parse_recipient(to)
        if e164 is None:
            return self._error(
                131009,
                "(#131009) Parameter value is not valid",
                details=f"Invalid WhatsApp ID or phone number: {to}",
            )
        kind = data.get("type", "text")
        template: Template | None = None
        variables: dict[str, str] | None = None
        language = None
        if kind == "text":
            text_part = data.get("text")
            body = text_part.get("body") if isinstance(text_part, Mapping) else None
            if not isinstance(body, str) or not body:
                return self._error(
                    131008,
                    "(#131008) Required parameter is missing",
                    details="Parameter 'text.body' is required.",
                )
            if len(body) > TEXT_MAX_CHARS:
                return self._error(
                    100,
                    f"(#100) Param text['body'] must be at most {TEXT_MAX_CHARS} characters long.",
                )
            text: str | None = body
        elif kind == "template":
            spec = data.get("template")
            if not isinstance(spec, Mapping) or not isinstance(spec.get("name"), str):
                return self._error(
                    131008,
                    "(#131008) Required parameter is missing",
                    details="Parameter 'template.name' is required.",
                )
            lang = spec.get("language")
            language = lang.get("code") if isinstance(lang, Mapping) else None
            if not isinstance(language, str):
                return self._error(
                    131008,
                    "(#131008) Required parameter is missing",
                    details="Parameter 'template.language.code' is required.",
                )
            template = world.template(spec["name"], language)
            if template is None or world.template_status(template) in ("PENDING", "REJECTED"):
                return self._error(
                    132001,
                    "(#132001) Template name does not exist in the translation",
                    details=f"template name ({spec['name']}) does not exist in {language}",
                )
            status = world.template_status(template)
            if status == "PAUSED":
                return self._error(
                    132015,
                    "(#132015) Template is Paused",
                    details="Cannot send message as the template is paused due to low quality.",
                )
            if status == "DISABLED":
                return self._error(
                    132016,
                    "(#132016) Template is Disabled",
                    details="The template has been paused too many times and is disabled.",
                )
            variables, issue = meta_parameters(template, spec.get("components"))
            if issue is not None:
                return self._error(
                    issue.code, f"(#{issue.code}) {issue.message}", details=issue.details
                )
            text = template.render(variables or {})
        elif kind in MEDIA_TYPES:
            media = data.get(kind)
            if not isinstance(media, Mapping) or not (media.get("link") or media.get("id")):
                return self._error(
                    131008,
                    "(#131008) Required parameter is missing",
                    details=f"Parameter '{kind}.link' or '{kind}.id' is required.",
                )
            caption = media.get("caption")
            text = caption if isinstance(caption, str) else None
        elif kind in OTHER_TYPES:
            text = None
        else:
            return self._error(
                131051,
                "(#131051) Unsupported message type",
                details=f"Message type {kind!r} is not supported.",
            )
        now = time.time()
        if world.meta_throughput_exceeded(now):
            return self._rate_limited(130429)
        if world.meta_pair_exceeded(e164, now):
            return self._rate_limited(131056)
        failure = world.async_failure("meta", e164, kind, template, now)
        if failure is not None and failure.code in world.scenario.meta_sync_errors:
            return self._error(
                failure.code, f"(#{failure.code}) {failure.title}", details=failure.details
            )
        wa_id = world.wa_id(e164)
        opaque = data.get("biz_opaque_callback_data")
        message = Message(
            id=world.wamid(wa_id),
            dialect="meta",
            to=e164,
            type=str(kind),
            text=text,
            template=template.name if template else None,
            language=language,
            variables=variables,
            time=now,
            attempt=0,
            sender=sandbox.settings.meta.phone_number_id,
            opaque=str(opaque) if opaque is not None else None,
            wa_id=wa_id,
        )
        world.accept(message, failure, template)
        after = sandbox.faults.after_fires("meta") if world.scenario.has_faults else None
        if after is not None:
            return await sandbox.faults.after(request, after)
        status_part = ',"message_status":"accepted"' if template is not None else ""
        body = (
            '{"messaging_product":"whatsapp","contacts":[{"input":'
            + json.dumps(str(to))
            + ',"wa_id":"'
            + wa_id
            + '"}],"messages":[{"id":"'
            + message.id
            + '"'
            + status_part
            + "}]}"
        )
        return web.Response(body=body.encode(), content_type="application/json")

    # --- reading ---

    def _phone_number(self, fields: str | None) -> dict[str, Any]:
        sandbox = self._sandbox
        settings, scenario = sandbox.settings.meta, sandbox.world.scenario
        everything = {
            "id": settings.phone_number_id,
            "display_phone_number": display_phone("+" + settings.display_phone_number),
            "verified_name": settings.verified_name,
            "quality_rating": scenario.quality_rating,
            "status": "CONNECTED",
            "name_status": "APPROVED",
            "code_verification_status": "VERIFIED",
            "platform_type": "CLOUD_API",
            "throughput": {"level": scenario.throughput_level},
            "messaging_limit_tier": scenario.messaging_limit,
            "whatsapp_business_manager_messaging_limit": scenario.messaging_limit,
            "account_mode": "LIVE",
            "is_official_business_account": False,
            "is_pin_enabled": False,
        }
        if not fields:
            return {
                k: everything[k]
                for k in ("verified_name", "display_phone_number", "quality_rating", "id")
            }
        return _select(everything, fields)

    async def fetch_node(self, request: web.Request) -> web.StreamResponse:
        async def handle() -> web.StreamResponse:
            problem = self._check_auth(request)
            if problem is not None:
                return problem
            node = request.match_info["node"]
            settings = self._sandbox.settings.meta
            fields = request.query.get("fields")
            if node == settings.phone_number_id:
                return _json(self._phone_number(fields))
            if node == settings.waba_id:
                return _json(
                    _select(
                        {
                            "id": node,
                            "name": "waapp Sandbox",
                            "currency": "USD",
                            "timezone_id": "1",
                            "message_template_namespace": "sandbox_namespace",
                            "account_review_status": "APPROVED",
                        },
                        fields,
                    )
                )
            template = self._sandbox.world.templates_by_id.get(node)
            if template is not None:
                status = self._sandbox.world.template_status(template)
                return _json(_select(meta_template_json(template, status), fields))
            return self._unknown_node(request)

        return await self._read(request, handle)

    async def list_phone_numbers(self, request: web.Request) -> web.StreamResponse:
        async def handle() -> web.StreamResponse:
            problem = self._check_auth(request)
            if problem is not None:
                return problem
            if request.match_info["node"] != self._sandbox.settings.meta.waba_id:
                return self._unknown_node(request)
            fields = request.query.get("fields")
            return _json(
                {
                    "data": [self._phone_number(fields)],
                    "paging": {"cursors": {"before": _cursor(0), "after": _cursor(0)}},
                }
            )

        return await self._read(request, handle)

    async def list_templates(self, request: web.Request) -> web.StreamResponse:
        async def handle() -> web.StreamResponse:
            problem = self._check_auth(request)
            if problem is not None:
                return problem
            if request.match_info["node"] != self._sandbox.settings.meta.waba_id:
                return self._unknown_node(request)
            return self._templates_page(request)

        return await self._read(request, handle)

    def _templates_page(self, request: web.Request) -> web.Response:
        world = self._sandbox.world
        query = request.query
        try:
            limit = max(1, min(1000, int(query.get("limit", "25"))))
        except ValueError:
            return self._error(100, "(#100) Param limit must be a number")
        items = [meta_template_json(t, world.template_status(t)) for t in world.templates.values()]
        total = len(items)

        def matches(item: dict[str, Any]) -> bool:
            for key in ("status", "category", "language"):
                if key in query and item[key] not in query[key].split(","):
                    return False
            body = next((c["text"] for c in item["components"] if c["type"] == "BODY"), "")
            if "name" in query and query["name"] not in item["name"]:
                return False
            if "content" in query and query["content"] not in body:
                return False
            wanted = query.get("name_or_content")
            if wanted and wanted not in item["name"] and wanted not in body:
                return False
            return not (
                "quality_score" in query
                and item["quality_score"]["score"] not in query["quality_score"].split(",")
            )

        items = [item for item in items if matches(item)]
        start = 0
        if "after" in query:
            index = _index(query["after"])
            if index is None:
                return self._error(100, "(#100) Invalid cursor")
            start = index + 1
        elif "before" in query:
            index = _index(query["before"])
            if index is None:
                return self._error(100, "(#100) Invalid cursor")
            start = max(0, index - limit)
        end = min(len(items), start + limit)
        chosen = items[start:end]
        fields = query.get("fields")
        result: dict[str, Any] = {"data": [_select(item, fields) for item in chosen]}
        base = f"{request.scheme}://{request.host}{request.path}"
        kept = [(k, v) for k, v in query.items() if k not in ("after", "before")]
        paging: dict[str, Any] = {}
        if chosen:
            paging["cursors"] = {"before": _cursor(start), "after": _cursor(end - 1)}
            if end < len(items):
                paging["next"] = f"{base}?{urlencode([*kept, ('after', _cursor(end - 1))])}"
            if start > 0:
                paging["previous"] = f"{base}?{urlencode([*kept, ('before', _cursor(start))])}"
        result["paging"] = paging
        if "summary" in query:
            summary = {
                "total_count": total,
                "message_template_count": total,
                "message_template_limit": 250,
                "are_translations_complete": True,
            }
            wanted = [s.strip() for s in query["summary"].split(",") if s.strip() in summary]
            result["summary"] = {key: summary[key] for key in wanted} or summary
        return _json(result)
