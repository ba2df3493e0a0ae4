"""Shared pieces of the provider tests: a recording ``httpx.MockTransport`` and a clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import httpx

NOW = datetime(2026, 11, 22, 12, 0, 0, tzinfo=UTC)

T = TypeVar("T")

Answer = httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]


def clock() -> datetime:
    return NOW


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class Mock:
    """Answers each request with the next answer (the last one repeats) and records it.

    An answer is an ``httpx.Response``, an exception to raise (a transport fault), or a
    function of the request.
    """

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self._handle))

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if isinstance(answer, httpx.Response):
            return answer
        return answer(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def form_of(request: httpx.Request) -> list[tuple[str, str]]:
    return parse_qsl(request.content.decode(), keep_blank_values=True)


def json_of(request: httpx.Request) -> Any:
    return json.loads(request.content)


def webhook_json(payload: Any) -> bytes:
    return json.dumps(payload).encode()
