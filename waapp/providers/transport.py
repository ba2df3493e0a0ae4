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

Cost (performance.md, ``bench/send``): every message of a campaign goes through here, so
the wrapper does the request/response conversion itself, in one step, on the
``aiohttp.ClientSession`` that ``AiohttpTransport`` configures (limits, TLS, proxy):
the aiohttp exception is mapped once (not first by httpx-aiohttp's map and then again),
the answer is built once (not wrapped in a second ``httpx.Response``) and its body is read
with one ``read()`` (not through two layers of 16 KiB chunk generators). The client skips
httpx's cookie extraction for answers without ``Set-Cookie`` — it builds ``urllib``
request and ``email`` message shims for every answer, a tenth of the CPU of a send.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

import waapp

if TYPE_CHECKING:
    import aiohttp
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
    return _Client(
        transport=SafeAiohttpTransport(inner),
        timeout=timeout,
        headers={"User-Agent": USER_AGENT},
        follow_redirects=False,
    )


class _Cookies(httpx.Cookies):
    """httpx's cookie jar, which only looks at answers that set a cookie."""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class _Client(httpx.AsyncClient):
    """``httpx.AsyncClient`` whose cookie jar is a :class:`_Cookies`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cookies = self._cookies  # httpx sets ``_cookies`` without the setter

    @property
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._cookies = _Cookies(cookies)


class SafeAiohttpTransport(httpx.AsyncBaseTransport):
    """``AiohttpTransport``'s session, with failures mapped by which side of the request
    they hit."""

    def __init__(self, inner: AiohttpTransport) -> None:
        self._inner = inner
        self._session: aiohttp.ClientSession | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}
        proxy = inner.proxy
        self._proxy: dict[str, Any] = {}
        if proxy is not None:
            import aiohttp

            self._proxy = {
                "proxy": str(proxy.url),
                "proxy_auth": aiohttp.BasicAuth(*proxy.auth) if proxy.auth else None,
                "proxy_headers": proxy.headers,
            }

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session
        if session is None:
            session = self._session = self._open()
        headers = request.headers
        data: Any
        try:
            data = request.content or None
        except httpx.RequestNotRead:
            data = request.stream  # a streamed upload: aiohttp chunks it itself
            headers = headers.copy()
            headers.pop("transfer-encoding", None)
        encoding = headers.encoding
        extensions = request.extensions
        try:
            response = await session.request(
                request.method,
                str(request.url),
                headers=[(k.decode(encoding), v.decode(encoding)) for k, v in headers.raw],
                data=data,
                allow_redirects=False,
                auto_decompress=False,
                compress=False,
                timeout=self._timeout(extensions.get("timeout")),
                server_hostname=extensions.get("sni_hostname"),
                **self._proxy,
            ).__aenter__()
        except Exception as exc:
            raise _remapped(exc, request) from exc
        reason = response.reason
        return httpx.Response(
            status_code=response.status,
            headers=response.raw_headers,
            stream=_AiohttpStream(response, request),
            request=request,
            extensions=(
                {"http_version": b"HTTP/1.1", "reason_phrase": reason.encode()}
                if reason
                else {"http_version": b"HTTP/1.1"}
            ),
        )

    def _open(self) -> aiohttp.ClientSession:
        """The inner transport's session (the one it would use itself)."""
        from aiohttp import ClientSession

        inner = self._inner
        if not isinstance(inner.client, ClientSession):
            inner.client = inner.get_client()
        return inner.client

    def _timeout(self, timeout: dict[str, float | None] | None) -> aiohttp.ClientTimeout:
        """httpx's timeouts as aiohttp's (the same for every request of a client)."""
        timeout = timeout or {}
        key = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        found = self._timeouts.get(key)
        if found is None:
            import aiohttp

            found = aiohttp.ClientTimeout(sock_connect=key[0], sock_read=key[1], connect=key[2])
            if len(self._timeouts) < 16:
                self._timeouts[key] = found
        return found

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AiohttpStream(httpx.AsyncByteStream):
    """The body of an aiohttp answer, read in one go (provider answers are small)."""

    def __init__(self, response: aiohttp.ClientResponse, request: httpx.Request) -> None:
        self._response = response
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            body = await self._response.read()
        except Exception as exc:
            raise _remapped(exc, self._request, reading=True) from exc
        if body:
            yield body

    async def aclose(self) -> None:
        try:
            await self._response.__aexit__(None, None, None)  # release the connection
        except Exception as exc:
            raise _remapped(exc, self._request, reading=True) from exc


def _remapped(exc: Exception, request: httpx.Request, *, reading: bool = False) -> Exception:
    """The httpx exception for ``exc`` (a raw aiohttp exception, or an httpx exception
    wrapping one); other exceptions come back unchanged."""
    import aiohttp

    cause: BaseException = exc
    if isinstance(exc, httpx.HTTPError) and exc.__cause__ is not None:
        cause = exc.__cause__
    message = str(cause) or type(cause).__name__
    kind: type[httpx.TransportError] | None
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.ProxyError):
        return exc  # a URL aiohttp cannot use, or the proxy refused: nothing left
    if isinstance(cause, aiohttp.InvalidURL | aiohttp.NonHttpUrlClientError):
        kind = httpx.UnsupportedProtocol  # a URL aiohttp cannot use: nothing left
    elif isinstance(cause, aiohttp.ClientHttpProxyError | aiohttp.ClientProxyConnectionError):
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
