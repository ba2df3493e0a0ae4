"""DatabaseWorker: everything runs on one thread that is not the caller's."""

from __future__ import annotations

import asyncio
import threading

import pytest

from waapp.core.entities import Contact
from waapp.core.errors import NotFound
from waapp.store.database import Database
from waapp.store.worker import DatabaseWorker


def _where(tag: str, *, suffix: str = "") -> tuple[str, int, str]:
    return tag + suffix, threading.get_ident(), threading.current_thread().name


def test_run_uses_one_thread_that_is_not_the_loops() -> None:
    async def main(worker: DatabaseWorker) -> list[tuple[str, int, str]]:
        first = await worker.run(_where, "a")
        rest = await asyncio.gather(*(worker.run(_where, str(i), suffix="!") for i in range(20)))
        return [first, *rest]

    with DatabaseWorker() as worker:
        results = asyncio.run(main(worker))

    assert results[0][0] == "a"
    assert results[1][0] == "0!"
    assert len({ident for _, ident, _ in results}) == 1
    assert results[0][1] != threading.get_ident()
    assert results[0][2].startswith("waapp-db")


def test_run_raises_what_the_function_raised() -> None:
    def fails() -> None:
        raise NotFound("gone")

    async def main(worker: DatabaseWorker) -> None:
        await worker.run(fails)

    with DatabaseWorker() as worker, pytest.raises(NotFound, match="gone"):
        asyncio.run(main(worker))


def test_submit_returns_a_future_and_keeps_the_order() -> None:
    seen: list[int] = []
    with DatabaseWorker() as worker:
        futures = [worker.submit(seen.append, i) for i in range(50)]
        assert [f.result(timeout=5) for f in futures] == [None] * 50
        assert worker.submit(worker.in_worker_thread).result(timeout=5) is True
        assert worker.in_worker_thread() is False
    assert seen == list(range(50))


def test_shutdown_refuses_new_work() -> None:
    worker = DatabaseWorker()
    worker.shutdown()
    with pytest.raises(RuntimeError):
        worker.submit(print)


def test_repositories_run_on_the_worker(db: Database) -> None:
    async def main(worker: DatabaseWorker) -> Contact:
        added = await worker.run(db.contacts.add, Contact(phone_e164="+15550000001", name="W"))
        assert added.id is not None
        return await worker.run(db.contacts.get, added.id)

    with DatabaseWorker() as worker:
        got = asyncio.run(main(worker))
    assert got.name == "W"
