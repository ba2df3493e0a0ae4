"""The production HTTP client: httpx over the ``httpx-aiohttp`` transport (performance.md).

This is the only module of the package that touches aiohttp, and it imports it lazily so
that importing ``waapp.providers`` stays cheap.

Why a wrapper around ``httpx_aiohttp.AiohttpTransport``: its exception map sends every
``aiohttp.ClientConnectionError`` to ``httpx.ConnectTimeout``, including a server that
closed the connection *after* reading the request (``ServerDisconnectedError``) and a
reset while waiting for the answer (``ClientOSError``); and errors outside that map (an
unparsable status line raises ``ClientResponseError``) escape as raw aiohttp exceptions.
Read as "connect timeout", a reset after the request was written would look like "never
sent" and the engine could send the message twice. :class:`SafeAiohttpTransport` looks at
the aiohttp exception underneath and raises the httpx exception that says on which side
of the request the failure happened (see ``waapp.providers.base.transport_error``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx

import waapp

if TYPE_CHECKING:
    from httpx_aiohttp import AiohttpTransport

__all__ = ["DEFAULT_TIMEOUT", "USER_AGENT", "SafeAiohttpTransport", "make_client"]

USER_AGENT = f"waapp/{getattr(waapp, '__version__', '0')} (+httpx; WhatsApp campaigns)"

#: Connect 5 s, read 20 s (the providers answer a send in well under a second; a slow
#: answer is still better than an unknown outcome). The pool timeout is the aiohttp
#: ``connect`` budget, which covers waiting for a free connection *and* connecting.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=20.0, write=20.0, pool=10.0)


def make_client(
    *,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    max_connections: int = 100,
    proxy: str | None = None,
) -> httpx.AsyncClient:
    """The ``httpx.AsyncClient`` every production provider shares.

    Create it on the running event loop's thread and close it with ``await
    client.aclose()`` (it owns an ``aiohttp.ClientSession``). Redirects are not followed:
    a provider answering a send with a redirect is a wrong base URL, not a detour.
    ``proxy`` (``http://host:port``) is passed to aiohttp; environment proxies are not
    read.
    """
    from httpx_aiohttp import AiohttpTransport

    inner = AiohttpTransport(
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        proxy=httpx.Proxy(proxy) if proxy else None,
    )
    return httpx.AsyncClient(
        transport=SafeAiohttpTransport(inner),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


class SafeAiohttpTransport(httpx.AsyncBaseTransport):
    """``AiohttpTransport`` with failures re-mapped by which side of the request they hit."""

    def __init__(self, inner: AiohttpTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self._inner.handle_async_request(request)
        except Exception as exc:
            raise _remapped(exc, request) from exc
        return httpx.Response(
            status_code=response.status_code,
            headers=response.headers.raw,
            stream=_SafeStream(response.stream, request),
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _SafeStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.SyncByteStream | httpx.AsyncByteStream, request: httpx.Request):
        self._inner = inner
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        assert isinstance(self._inner, httpx.AsyncByteStream)
        try:
            async for chunk in self._inner:
                yield chunk
        except Exception as exc:
            raise _remapped(exc, self._request, reading=True) from exc

    async def aclose(self) -> None:
        assert isinstance(self._inner, httpx.AsyncByteStream)
        try:
            await self._inner.aclose()
        except Exception as exc:
            raise _remapped(exc, self._request, reading=True) from exc


def _remapped(exc: Exception, request: httpx.Request, *, reading: bool = False) -> Exception:
    """The httpx exception for ``exc`` (an httpx exception wrapping an aiohttp one, or a
    raw aiohttp one); other exceptions come back unchanged."""
    import aiohttp

    cause: BaseException = exc
    if isinstance(exc, httpx.HTTPError) and exc.__cause__ is not None:
        cause = exc.__cause__
    message = str(cause) or type(cause).__name__
    kind: type[httpx.TransportError] | None
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.ProxyError):
        return exc  # a URL aiohttp cannot use, or the proxy refused: nothing left
    if isinstance(cause, aiohttp.ClientHttpProxyError):
        kind = httpx.ProxyError
    elif isinstance(cause, aiohttp.ConnectionTimeoutError) and not reading:
        kind = httpx.ConnectTimeout  # no connection yet: the request never left
    elif isinstance(cause, aiohttp.ClientConnectorError) and not reading:
        kind = httpx.ConnectError  # refused, DNS, TLS handshake: never left
    elif isinstance(cause, aiohttp.ServerTimeoutError):
        kind = httpx.ReadTimeout  # connected, request written, no answer in time
    elif isinstance(cause, aiohttp.ClientPayloadError):
        kind = httpx.ReadError
    elif isinstance(cause, aiohttp.ClientConnectionError | aiohttp.ClientResponseError):
        # Disconnected or reset after connecting, or an answer that is not HTTP: the
        # request may have been read by the server.
        kind = httpx.RemoteProtocolError
    elif isinstance(cause, aiohttp.ClientError):
        kind = httpx.RemoteProtocolError
    elif isinstance(exc, httpx.TransportError):
        return exc
    else:
        kind = None
    if kind is None:
        return exc
    return kind(message, request=request)
