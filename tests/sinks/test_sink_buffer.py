"""The buffer contract with a fake writer and a fake clock (no ClickHouse)."""

from __future__ import annotations

import ast
from collections.abc import Sequence

import pytest

from sinks.buffer import BackpressureError, RetryPolicy, TableBuffer, batch_token
from sinks.rows import Row


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeWriter:
    """Records batches; fails the next ``fail`` calls."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.calls: list[tuple[str, list[Row], str]] = []
        self.written: list[tuple[str, list[Row], str]] = []

    def encode(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> bytes:
        return repr(list(rows)).encode()

    def send(self, table: str, columns: Sequence[str], payload: bytes, token: str) -> None:
        rows: list[Row] = ast.literal_eval(payload.decode())
        self.calls.append((table, rows, token))
        if self.fail:
            self.fail -= 1
            raise ConnectionError("server went away")
        self.written.append((table, rows, token))


def make(
    writer: FakeWriter,
    clock: FakeClock,
    max_rows: int = 100,
    max_age_seconds: float = 60.0,
    retry: RetryPolicy | None = None,
) -> tuple[TableBuffer, list[float]]:
    sleeps: list[float] = []
    buf = TableBuffer(
        "t",
        ("a",),
        writer,
        clock=clock,
        sleep=sleeps.append,
        max_rows=max_rows,
        max_age_seconds=max_age_seconds,
        retry=retry,
    )
    return buf, sleeps


def test_flushes_by_size() -> None:
    w, clock = FakeWriter(), FakeClock()
    buf, _ = make(w, clock, max_rows=3, max_age_seconds=60.0)
    assert buf.add([(i,) for i in range(7)]) == 6
    assert [len(b[1]) for b in w.written] == [3, 3]
    assert buf.pending == 1
    assert buf.flush() == 1
    assert buf.stats.rows_written == 7
    assert buf.stats.batches_written == 3


def test_flushes_by_age_on_the_injected_clock() -> None:
    w, clock = FakeWriter(), FakeClock()
    buf, _ = make(w, clock, max_rows=100, max_age_seconds=5.0)
    buf.add([(1,)])
    clock.now = 4.9
    assert buf.poll() == 0
    assert buf.add([(2,)]) == 0
    clock.now = 5.0
    assert buf.poll() == 2
    assert w.written[0][1] == [(1,), (2,)]


def test_retries_with_backoff_then_succeeds_with_one_token() -> None:
    w, clock = FakeWriter(fail=2), FakeClock()
    buf, sleeps = make(w, clock, retry=RetryPolicy(max_retries=3, backoff_seconds=0.5))
    buf.add([(1,), (2,)])
    assert buf.flush() == 2
    assert sleeps == [0.5, 1.0]
    assert len({c[2] for c in w.calls}) == 1
    assert w.calls[0][2] == batch_token("t", w.encode("t", ("a",), [(1,), (2,)]))
    assert buf.stats.retries == 2


def test_backpressure_keeps_the_batch_for_the_next_flush() -> None:
    w, clock = FakeWriter(fail=10), FakeClock()
    buf, sleeps = make(w, clock, retry=RetryPolicy(max_retries=2, backoff_seconds=1.0))
    buf.add([(1,)])
    with pytest.raises(BackpressureError) as err:
        buf.flush()
    assert err.value.attempts == 3
    assert err.value.rows == 1
    assert sleeps == [1.0, 2.0]
    assert buf.pending == 1
    assert buf.stats.rows_failed == 1
    assert w.written == []
    w.fail = 0
    assert buf.flush() == 1
    assert len({c[2] for c in w.calls}) == 1  # the resent batch carries the same token


def test_backoff_is_capped() -> None:
    policy = RetryPolicy(max_retries=10, backoff_seconds=1.0, backoff_max_seconds=4.0)
    assert [policy.delay(a) for a in range(1, 6)] == [1.0, 2.0, 4.0, 4.0, 4.0]


class FailingEncoder(FakeWriter):
    """Fails the next ``fail_encode`` encodes (the first encode of a table asks the server)."""

    def __init__(self, fail_encode: int) -> None:
        super().__init__()
        self.fail_encode = fail_encode

    def encode(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> bytes:
        if self.fail_encode:
            self.fail_encode -= 1
            raise OSError("connection refused")
        return super().encode(table, columns, rows)


def test_add_keeps_every_row_pending_when_a_full_batch_fails() -> None:
    w, clock = FakeWriter(fail=1), FakeClock()
    buf, _ = make(w, clock, max_rows=3, retry=RetryPolicy(max_retries=0))
    with pytest.raises(BackpressureError):
        buf.add([(i,) for i in range(7)])
    assert buf.pending == 7  # the rows after the failed batch were kept too
    assert buf.flush() == 7
    assert sorted(r for _, rows, _ in w.written for r in rows) == [(i,) for i in range(7)]


def test_a_failed_batch_is_resent_as_it_was_while_rows_are_added() -> None:
    w, clock = FakeWriter(fail=2), FakeClock()
    buf, _ = make(w, clock, max_rows=100, retry=RetryPolicy(max_retries=0))
    buf.append([(1,), (2,)])
    with pytest.raises(BackpressureError):
        buf.flush()
    buf.append([(3,)])  # arrives while the store is down
    with pytest.raises(BackpressureError):
        buf.flush()
    assert buf.flush() == 3
    first, second, third, fourth = w.calls
    # the same bytes and token until the first batch lands, then the new row alone
    assert first == second == third == ("t", [(1,), (2,)], first[2])
    assert fourth[1] == [(3,)]
    assert fourth[2] != first[2]
    assert [rows for _, rows, _ in w.written] == [[(1,), (2,)], [(3,)]]


def test_repeated_failures_never_grow_the_pending_rows() -> None:
    w, clock = FakeWriter(fail=50), FakeClock()
    buf, sleeps = make(w, clock, max_rows=100, retry=RetryPolicy(max_retries=0))
    buf.add([(i,) for i in range(10)])
    for _ in range(5):
        with pytest.raises(BackpressureError) as err:
            buf.flush()
        assert err.value.rows == 10
        assert buf.pending == 10
    assert sleeps == []  # no retries inside the buffer: the caller waits without blocking
    assert len({token for _, _, token in w.calls}) == 1
    assert buf.stats.batches_failed == 5
    assert buf.stats.rows_written == 0


def test_an_encode_error_is_a_failed_attempt_not_an_escape() -> None:
    w, clock = FailingEncoder(fail_encode=1), FakeClock()
    buf, _ = make(w, clock, retry=RetryPolicy(max_retries=0))
    buf.append([(1,)])
    with pytest.raises(BackpressureError) as err:
        buf.flush()
    assert isinstance(err.value.__cause__, OSError)
    assert buf.pending == 1
    assert buf.flush() == 1
    assert [rows for _, rows, _ in w.written] == [[(1,)]]
