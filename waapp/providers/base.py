"""What every provider module shares: the request wrapper, error translation, rate-limit
waits, timestamps and phone numbers from webhooks.

The boundary. Provider modules call :func:`request`, which returns either an
``httpx.Response`` or a :class:`~waapp.core.ports.ProviderError`; no httpx exception
leaves this package. Errors are built here, named by the catalogue:

* :func:`transport_error` — the request failed on the wire. Whether it may have reached
  the provider decides between "send again" and "unknown outcome":

  ==========================================  ======================  ================
  httpx exception                             catalogue code          may_have_reached
  ==========================================  ======================  ================
  ConnectTimeout, PoolTimeout                 timeout_before_send     False
  ConnectError, ProxyError, UnsupportedProt.  connection_failed       False
  LocalProtocolError, InvalidURL              connection_failed       False
  WriteTimeout, ReadTimeout (any other        timeout_after_send      True
  timeout)
  RemoteProtocolError, ReadError, WriteError, connection_reset        True
  CloseError, any other transport error
  DecodingError (2xx body unreadable)         bad_response            True
  ==========================================  ======================  ================

* :func:`refusal` — the provider answered with an error. The provider's own code is kept
  when the catalogue knows it; otherwise the HTTP-status entry (``http_400`` …) is used
  and the provider's code goes into ``detail``, so that ``catalogue.lookup(dialect,
  error.code)`` classifies it the way ``classify_http`` would.
* :func:`bad_response` — a 2xx answer without what a success carries: the provider may
  well have accepted the message (UNKNOWN_OUTCOME).
* :func:`async_failure` — a failure reported later (status webhook or poll).

:class:`ProviderRequestError` is raised by the operations that return data rather than a
:class:`~waapp.core.ports.SendResult` (``list_templates``, ``fetch_status``).
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from waapp.core import catalogue
from waapp.core.catalogue import Dialect
from waapp.core.phones import is_e164, normalize_phone
from waapp.core.ports import HealthReport, ProviderError, ProviderRequestError

__all__ = [
    "MAX_PAGES",
    "Clock",
    "PagesLeft",
    "ProviderRequestError",
    "async_failure",
    "bad_response",
    "epoch_to_datetime",
    "get_json",
    "header",
    "json_body",
    "json_content",
    "nested",
    "next_page_params",
    "pages",
    "phone_e164",
    "raise_for",
    "refusal",
    "request",
    "retry_after_seconds",
    "transport_error",
    "unhealthy",
    "utc_now",
]

log = logging.getLogger("waapp.providers")

Clock = Callable[[], datetime]

#: Longest provider detail kept (error messages can embed whole request bodies).
_DETAIL_MAX = 500


def utc_now() -> datetime:
    return datetime.now(UTC)


def raise_for(dialect: Dialect, error: ProviderError) -> ProviderRequestError:
    """The exception to raise for ``error``, with the catalogue's what-to-do."""
    entry = catalogue.lookup(dialect, error.code)
    return ProviderRequestError(error, what_to_do=entry.account_advice)


# --- requests ------------------------------------------------------------------------------


async def request(
    client: httpx.AsyncClient, dialect: Dialect, method: str, url: str | httpx.URL, **kwargs: Any
) -> httpx.Response | ProviderError:
    """``client.request(method, url, **kwargs)`` with every httpx failure translated."""
    try:
        return await client.request(method, url, **kwargs)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        error = transport_error(dialect, exc)
        log.warning(
            "%s %s %s failed: %s (%s)",
            dialect.value,
            method,
            _path_of(str(url)),
            error.code,
            type(exc).__name__,
        )
        return error


def _path_of(url: str) -> str:
    """The URL without its query (which may hold nothing secret, but keep logs short)."""
    return url.split("?", 1)[0]


def transport_error(dialect: Dialect, exc: Exception) -> ProviderError:
    """The catalogue error for a failed request; see the module docstring's table."""
    code: str
    reached: bool
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        code, reached = "timeout_before_send", False
    elif isinstance(
        exc,
        httpx.ConnectError
        | httpx.ProxyError
        | httpx.UnsupportedProtocol
        | httpx.LocalProtocolError
        | httpx.InvalidURL,
    ):
        code, reached = "connection_failed", False
    elif isinstance(exc, httpx.TimeoutException):
        code, reached = "timeout_after_send", True
    elif isinstance(exc, httpx.DecodingError):
        code, reached = "bad_response", True
    else:
        # RemoteProtocolError, ReadError, WriteError, CloseError and anything unforeseen:
        # the request may have been read, so assume it was.
        code, reached = "connection_reset", True
    entry = catalogue.lookup(dialect, code)
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return ProviderError(
        code=code, title=entry.title, detail=_clip(detail), may_have_reached=reached
    )


def refusal(
    dialect: Dialect,
    *,
    status: int,
    code: str | int | None = None,
    detail: str = "",
    retry_after: float | None = None,
) -> ProviderError:
    """The catalogue error for an HTTP error answer (``status`` ≥ 300)."""
    raw = "" if code is None else str(code).strip()
    entry = catalogue.classify_http(dialect, status)
    if raw:
        known = catalogue.lookup(dialect, raw)
        if known.known:
            entry = known
        else:
            # Unknown to the catalogue: the HTTP status decides, and the code is named.
            detail = f"error {raw}: {detail}" if detail else f"error {raw}"
    return ProviderError(
        code=entry.code,
        title=entry.title,
        detail=_clip(detail),
        retry_after_seconds=retry_after,
        may_have_reached=False,
    )


async def get_json(
    client: httpx.AsyncClient,
    dialect: Dialect,
    url: str,
    *,
    refusal: Callable[[httpx.Response], ProviderError],
    **kwargs: Any,
) -> dict[str, Any]:
    """GET ``url`` and return its JSON object; any failure raises ProviderRequestError
    (``refusal`` maps a non-2xx answer the provider's way)."""
    response = await request(client, dialect, "GET", url, **kwargs)
    if isinstance(response, ProviderError):
        raise raise_for(dialect, response)
    if not response.is_success:
        raise raise_for(dialect, refusal(response))
    body = json_body(response)
    if not isinstance(body, dict):
        raise raise_for(dialect, bad_response(dialect, "the answer is not a JSON object"))
    return body


def bad_response(dialect: Dialect, detail: str) -> ProviderError:
    """A 2xx answer that does not say what a success says: the outcome is unknown."""
    entry = catalogue.lookup(dialect, "bad_response")
    return ProviderError(
        code=entry.code, title=entry.title, detail=_clip(detail), may_have_reached=True
    )


def async_failure(dialect: Dialect, code: str | int | None, detail: str = "") -> ProviderError:
    """A failure the provider reported after accepting the message (webhook or poll)."""
    raw = "" if code is None else str(code).strip()
    entry = catalogue.lookup(dialect, raw)
    return ProviderError(code=raw or entry.code, title=entry.title, detail=_clip(detail))


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"


#: httpx's encoding of ``json=`` (compact, UTF-8, no NaN) with one encoder built once:
#: ``json.dumps`` with options builds a new encoder on every call.
_JSON_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def json_content(value: Any) -> bytes:
    """``value`` as the body httpx sends for ``json=value`` (send it with ``content=`` and
    ``Content-Type: application/json``): the bytes are the same, the encoding is cheaper."""
    return _JSON_ENCODER.encode(value).encode("utf-8")


def json_body(response: httpx.Response) -> Any:
    """The response's JSON, or None when it is not JSON."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by case-insensitive name from any mapping (httpx's is already so)."""
    direct = headers.get(name)
    if direct is not None:
        return direct
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


# --- waits ---------------------------------------------------------------------------------


def retry_after_seconds(
    response: httpx.Response, *, body_value: object = None, now: datetime | None = None
) -> float | None:
    """How long the provider asks us to wait, in seconds, or None when it does not say.

    In order (the official WaSender n8n node's order): a ``retry_after`` number from the
    body (``body_value``), the ``Retry-After`` header (seconds or an HTTP date), then
    ``X-RateLimit-Reset`` — read only on a 429 or when ``X-RateLimit-Remaining`` is 0,
    and either a unix timestamp (seconds or milliseconds) or seconds until the reset,
    told apart by size. ``Twilio-Concurrent-Requests`` is informative only and ignored.
    """
    now = now or utc_now()
    found = _seconds(body_value)
    if found is None:
        found = parse_retry_after(response.headers.get("retry-after"), now=now)
    if found is None:
        remaining = (response.headers.get("x-ratelimit-remaining") or "").strip()
        if response.status_code == 429 or remaining == "0":
            found = parse_rate_limit_reset(response.headers.get("x-ratelimit-reset"), now=now)
    return found


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number < 0:
        return None
    return number


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """``Retry-After``: delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value or not value.strip():
        return None
    seconds = _seconds(value.strip())
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


#: Above this an ``X-RateLimit-Reset`` is a unix timestamp (2001-09-09), not a delay.
_TIMESTAMP_FLOOR = 1_000_000_000
_MILLISECONDS_FLOOR = 100_000_000_000


def parse_rate_limit_reset(value: str | None, *, now: datetime) -> float | None:
    """``X-RateLimit-Reset``, which WaSender documents both as a unix timestamp and as the
    seconds until the reset: a big number is a timestamp (milliseconds if very big)."""
    number = _seconds((value or "").strip() or None)
    if number is None:
        return None
    if number >= _MILLISECONDS_FLOOR:
        number /= 1000.0
    if number >= _TIMESTAMP_FLOOR:
        return max(0.0, number - now.timestamp())
    return number


# --- webhook values ------------------------------------------------------------------------


def epoch_to_datetime(value: object, fallback: datetime) -> datetime:
    """A unix time in seconds or milliseconds (number or numeric string) as aware UTC;
    ``fallback`` when it is missing or not a time."""
    number = _seconds(value)
    if number is None or number == 0:
        return fallback
    if number >= _MILLISECONDS_FLOOR:
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return fallback


def phone_e164(raw: object) -> str | None:
    """A phone number from a webhook as ``+E164``, or None when it is not one.

    Accepts Meta's bare digits (``16505551234``), Twilio's ``whatsapp:+…`` and WhatsApp
    JIDs (``…@s.whatsapp.net``); LIDs and group ids are not phone numbers. The number is
    normalised the way contacts are (Mexican ``521…`` → ``52…``), so it matches the
    contact list; a number libphonenumber does not know keeps its digits.
    """
    if raw is None or isinstance(raw, bool):
        return None
    text = str(raw).strip()
    if text.isdigit():
        text = "+" + text
    result = normalize_phone(text) if text else None
    if result is not None and result.e164 is not None:
        return result.e164
    # Not a number libphonenumber knows: keep the digits of a phone-shaped id.
    candidate = text
    if candidate.lower().startswith("whatsapp:"):
        candidate = candidate[len("whatsapp:") :].strip()
    if "@" in candidate:
        user, _, domain = candidate.rpartition("@")
        if domain.lower() not in ("s.whatsapp.net", "c.us"):
            return None  # a LID, a group or a channel: not a phone number
        candidate = user.split(":", 1)[0].split(".", 1)[0]
    if not candidate.startswith("+"):
        candidate = "+" + candidate
    return candidate if is_e164(candidate) else None


# --- shared shapes -------------------------------------------------------------------------


def unhealthy(dialect: Dialect, error: ProviderError, **details: str) -> HealthReport:
    """The health report for a check that could not be made or was refused."""
    entry = catalogue.lookup(dialect, error.code)
    summary = f"{error.title}. {entry.account_advice}"
    extra = {"error_code": error.code}
    if error.detail:
        extra["error_detail"] = error.detail
    return HealthReport(ok=False, summary=summary, details={**details, **extra})


def next_page_params(next_url: object) -> list[tuple[str, str]] | None:
    """The query of a provider's "next page" URL, to be sent to *our* base URL.

    Following the absolute URL itself would send the credentials to whatever host the
    answer names (and break behind Kapso or the Sandbox); its query carries the cursor.
    """
    if not isinstance(next_url, str) or not next_url.strip():
        return None
    pairs = parse_qsl(urlsplit(next_url.strip()).query, keep_blank_values=True)
    return pairs or None


#: Pages followed at most when listing (10 000 templates at 100 a page; a loop guard).
MAX_PAGES = 100


class PagesLeft(Exception):
    """Raised by :func:`pages` with ``complete``: pages were left after :data:`MAX_PAGES`."""


async def pages(
    get_json: Callable[[str, list[tuple[str, str]]], Awaitable[dict[str, Any]]],
    url: str,
    params: list[tuple[str, str]],
    next_url: Callable[[dict[str, Any]], object],
    *,
    complete: bool = False,
) -> AsyncIterator[dict[str, Any]]:
    """Each page's JSON body of a list, the first asked with ``params``, the next ones with
    the query of ``next_url(body)`` sent to *our* base URL (:func:`next_page_params`).
    At most :data:`MAX_PAGES` pages; with pages left after them, ``complete`` raises
    :class:`PagesLeft` (a partial list would mislead) and otherwise the listing stops."""
    query: list[tuple[str, str]] | None = params
    for _ in range(MAX_PAGES):
        if query is None:
            return
        body = await get_json(url, query)
        yield body
        query = next_page_params(next_url(body))
    if query is not None and complete:
        raise PagesLeft(url)


def nested(body: Mapping[str, Any], key: str, inner: str) -> object:
    """``body[key][inner]`` when ``body[key]`` is an object, else None."""
    part = body.get(key)
    return part.get(inner) if isinstance(part, dict) else None
