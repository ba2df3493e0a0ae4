"""The production client (httpx over httpx-aiohttp) against real loopback faults.

httpx-aiohttp maps a server that drops the connection after reading the request to
``httpx.ConnectTimeout``, which would read as "never sent"; these tests pin that the
client waapp ships says "may have reached" for it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from tests.providers.conftest import run
from waapp.core.catalogue import Dialect
from waapp.core.ports import ProviderError
from waapp.providers import USER_AGENT, base, make_client

Behaviour = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]
FAST = httpx.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0)


@asynccontextmanager
async def server(behaviour: Behaviour) -> AsyncIterator[str]:
    """A one-shot HTTP-ish server on 127.0.0.1 that reads a request head and then behaves."""
    writers: list[asyncio.StreamWriter] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            await behaviour(head, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass

    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        for writer in writers:
            writer.transport.abort()
        listener.close()
        await listener.wait_closed()
        await asyncio.sleep(0)


async def answer_json(head: bytes, writer: asyncio.StreamWriter) -> None:
    body = b'{"ua": "%s"}' % next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"user-agent")
    )
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(body), body)
    )
    await writer.drain()


async def close_after_reading(head: bytes, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def reset_after_reading(head: bytes, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def never_answer(head: bytes, writer: asyncio.StreamWriter) -> None:
    await asyncio.sleep(2)


async def answer_garbage(head: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    await writer.drain()
    writer.close()


async def answer_truncated(head: bytes, writer: asyncio.StreamWriter) -> None:
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 200\r\n\r\n{"messages"')
    await writer.drain()
    writer.close()


async def send_to(behaviour: Behaviour) -> httpx.Response | ProviderError:
    client = make_client(timeout=FAST)
    try:
        async with server(behaviour) as url:
            return await base.request(
                client, Dialect.META, "POST", f"{url}/v23.0/1/messages", json={}
            )
    finally:
        await client.aclose()


def test_success_and_user_agent() -> None:
    response = run(send_to(answer_json))
    assert isinstance(response, httpx.Response)
    assert response.status_code == 200
    assert response.json() == {"ua": USER_AGENT}


@pytest.mark.parametrize(
    ("behaviour", "code"),
    [
        (close_after_reading, "connection_reset"),
        (reset_after_reading, "connection_reset"),
        (never_answer, "timeout_after_send"),
        (answer_garbage, "connection_reset"),
        (answer_truncated, "connection_reset"),
    ],
    ids=["closed", "reset", "no-answer", "not-http", "truncated"],
)
def test_faults_after_the_request_left_may_have_reached(behaviour: Behaviour, code: str) -> None:
    error = run(send_to(behaviour))
    assert isinstance(error, ProviderError)
    assert (error.code, error.may_have_reached) == (code, True)


def test_refused_connection_never_reached() -> None:
    async def main() -> httpx.Response | ProviderError:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = make_client(timeout=FAST)
        try:
            return await base.request(client, Dialect.TWILIO, "POST", f"http://127.0.0.1:{port}/x")
        finally:
            await client.aclose()

    error = run(main())
    assert isinstance(error, ProviderError)
    assert (error.code, error.may_have_reached) == ("connection_failed", False)


def test_a_url_aiohttp_cannot_use_never_reached() -> None:
    async def main() -> httpx.Response | ProviderError:
        client = make_client(timeout=FAST)
        try:
            return await base.request(client, Dialect.WASENDER, "GET", "ftp://127.0.0.1/x")
        finally:
            await client.aclose()

    error = run(main())
    assert isinstance(error, ProviderError) and error.may_have_reached is False


# --- the conversion between httpx and aiohttp (done by SafeAiohttpTransport itself) ---------


async def exchange(behaviour: Behaviour, *requests: dict[str, Any]) -> list[httpx.Response]:
    """Each request (``method`` and ``client.request``'s keyword arguments) to a fresh
    server, in turn, on one client."""
    client = make_client(timeout=FAST)
    try:
        answers = []
        for options in requests:
            async with server(behaviour) as url:
                answers.append(await client.request(url=f"{url}/x", **options))
        return answers
    finally:
        await client.aclose()


def header_of(head: bytes, name: bytes) -> bytes:
    found = [
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(name + b":")
    ]
    return b", ".join(found)


async def answer_with(
    writer: asyncio.StreamWriter, body: bytes, *headers: bytes, status: bytes = b"200 OK"
) -> None:
    writer.write(
        b"HTTP/1.1 %s\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n%s"
        % (status, len(body), b"".join(h + b"\r\n" for h in headers), body)
    )
    await writer.drain()
    writer.close()


def test_cookies_set_by_an_answer_are_kept_and_sent_back() -> None:
    async def behaviour(head: bytes, writer: asyncio.StreamWriter) -> None:
        await answer_with(writer, header_of(head, b"cookie"), b"Set-Cookie: lb=a1; Path=/")

    first, second = run(exchange(behaviour, {"method": "GET"}, {"method": "GET"}))
    assert (first.content, second.content) == (b"", b"lb=a1")


def test_an_answer_without_cookies_leaves_the_jar_alone() -> None:
    async def behaviour(head: bytes, writer: asyncio.StreamWriter) -> None:
        await answer_with(writer, header_of(head, b"cookie"))

    async def main() -> tuple[bytes, list[str]]:
        client = make_client(timeout=FAST)
        client.cookies.set("session", "s1", domain="127.0.0.1")
        try:
            async with server(behaviour) as url:
                response = await client.get(f"{url}/x")
            return response.content, list(client.cookies)
        finally:
            await client.aclose()

    content, jar = run(main())
    assert (content, jar) == (b"session=s1", ["session"])


def test_headers_body_and_status_go_through_unchanged() -> None:
    seen: list[bytes] = []

    async def behaviour(head: bytes, writer: asyncio.StreamWriter) -> None:
        seen.append(head)
        await answer_with(
            writer,
            b'{"error": "no"}',
            b"Content-Type: application/json",
            b"X-Twice: 1",
            b"X-Twice: 2",
            status=b"429 Too Many Requests",
        )

    (response,) = run(
        exchange(
            behaviour,
            {
                "method": "POST",
                "content": b"{}",
                "headers": {"Authorization": "Bearer t", "Content-Type": "application/json"},
            },
        )
    )
    assert response.status_code == 429
    assert response.reason_phrase == "Too Many Requests"
    assert response.headers.get_list("x-twice") == ["1", "2"]
    assert response.json() == {"error": "no"}
    (head,) = seen
    assert head.startswith(b"POST /x HTTP/1.1\r\n")
    assert header_of(head, b"authorization") == b"Bearer t"
    assert header_of(head, b"content-length") == b"2"
    assert header_of(head, b"user-agent") == USER_AGENT.encode()


def test_a_compressed_answer_is_decoded_by_httpx() -> None:
    import gzip

    async def behaviour(head: bytes, writer: asyncio.StreamWriter) -> None:
        await answer_with(writer, gzip.compress(b'{"ok": true}'), b"Content-Encoding: gzip")

    (response,) = run(exchange(behaviour, {"method": "GET"}))
    assert response.json() == {"ok": True}


def test_a_streamed_upload_is_sent() -> None:
    bodies: list[bytes] = []

    async def behaviour(head: bytes, writer: asyncio.StreamWriter) -> None:
        bodies.append(head)
        await answer_with(writer, header_of(head, b"transfer-encoding"))

    async def chunks() -> AsyncIterator[bytes]:
        yield b"part one, "
        yield b"part two"

    (response,) = run(exchange(behaviour, {"method": "POST", "content": chunks()}))
    assert response.status_code == 200
    assert response.content.lower() == b"chunked"  # one Transfer-Encoding, from aiohttp


def test_a_refusing_proxy_never_reached() -> None:
    async def main() -> httpx.Response | ProviderError:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        client = make_client(timeout=FAST, proxy=f"http://127.0.0.1:{port}")
        try:
            return await base.request(client, Dialect.META, "POST", "http://example.com/x")
        finally:
            await client.aclose()

    error = run(main())
    assert isinstance(error, ProviderError)
    assert (error.code, error.may_have_reached) == ("connection_failed", False)
