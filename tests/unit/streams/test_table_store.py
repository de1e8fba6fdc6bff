"""The worker's view of a Faust table: what reaches the changelog, and when ``delivered`` returns.

The table and the producer here are in-memory stand-ins with the two
methods the view uses; the same view over the real ones, with a broker
killed and workers killed -9, is in ``tests/faults`` and
``tests/integration/test_scale.py``.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from streams.app import _TableStore


class _Producer:
    def __init__(self) -> None:
        #: (topic, key, value, partition) of every record sent
        self.sent: list[tuple[str, bytes, bytes | None, int | None]] = []
        self.acks: list[asyncio.Future[None]] = []
        self.fail_next = 0
        #: keys whose acknowledgement waits for the test to give it
        self.held: set[bytes] = set()

    async def send(
        self,
        topic: str,
        key: bytes,
        value: bytes | None,
        partition: int | None,
        timestamp: float | None,
        headers: Any,
    ) -> asyncio.Future[None]:
        await asyncio.sleep(0)  # as a send may, waiting for room in its batch
        self.sent.append((topic, key, value, partition))
        ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.fail_next:
            self.fail_next -= 1
            ack.set_exception(ConnectionError("broker gone"))
        elif key not in self.held:
            ack.set_result(None)
        self.acks.append(ack)
        return ack


class _Table:
    def __init__(self, producer: _Producer) -> None:
        self.data: dict[bytes, bytes] = {}
        self.app = SimpleNamespace(producer=producer)
        self.changelog_topic = SimpleNamespace(get_topic_name=lambda: "app-emitted-changelog")

    def get(self, key: bytes) -> bytes | None:
        return self.data.get(key)

    def keys(self) -> list[bytes]:
        return list(self.data)


def test_a_key_written_twice_goes_out_once_with_its_last_value() -> None:
    producer = _Producer()
    store = _TableStore(_Table(producer), 3)

    async def main() -> None:
        store["a"] = b"1"
        store["b"] = b"x"
        store["a"] = b"2"
        del store["b"]
        assert producer.sent == []  # nothing leaves before delivered()
        await store.delivered()

    asyncio.run(main())
    assert producer.sent == [
        ("app-emitted-changelog", b"3|a", b"2", 3),
        ("app-emitted-changelog", b"3|b", None, 3),  # a tombstone: deleted
    ]
    assert dict(store) == {"a": b"2"}


def test_a_write_not_acknowledged_is_sent_again_with_its_value_then() -> None:
    producer = _Producer()
    store = _TableStore(_Table(producer), 0)

    async def main() -> None:
        store["a"] = b"1"
        store["b"] = b"1"
        producer.fail_next = 1
        with pytest.raises(ConnectionError):
            await store.delivered()
        store["a"] = b"2"
        await store.delivered()

    asyncio.run(main())
    assert [(k, v) for _, k, v, _ in producer.sent] == [
        (b"0|a", b"1"),  # its acknowledgement failed
        (b"0|b", b"1"),
        (b"0|a", b"2"),  # again, with the value it has now
    ]


def test_delivered_returns_only_once_every_earlier_write_is_acknowledged() -> None:
    # a caller must not return while another caller still waits for the
    # acknowledgement of a write made before its call (it would commit
    # offsets ahead of the state they depend on)
    producer = _Producer()
    store = _TableStore(_Table(producer), 1)
    producer.held = {b"1|b"}

    async def main() -> None:
        store["a"] = b"1"
        first = asyncio.create_task(store.delivered())
        await asyncio.sleep(0)  # the first caller is sending "a"
        store["b"] = b"1"  # taken and sent by the first caller too
        second = asyncio.create_task(store.delivered())
        await asyncio.sleep(0.05)
        assert [k for _, k, _, _ in producer.sent] == [b"1|a", b"1|b"]
        assert not second.done()  # "b" is not acknowledged yet
        assert not first.done()
        for ack in producer.acks:
            if not ack.done():
                ack.set_result(None)
        await asyncio.wait_for(asyncio.gather(first, second), 5)

    asyncio.run(main())
