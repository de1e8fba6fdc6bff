"""Telling a failure from the running task's own cancellation, and naming it in one line.

aiokafka raises ``CancelledError`` from tasks of its own during a broker
outage: the worker's loops (the probe loop, the agents' batches, the emit
cycle) treat such an error as a failure to retry, and only a cancellation of
their own task as the order to stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable


def cancelling() -> bool:
    """Whether the running task was asked to stop (not a ``CancelledError`` from elsewhere)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def failure_of(work: Awaitable[object]) -> BaseException | None:
    """Await ``work``; what it raised, or None when it returned.

    The running task's own cancellation is raised, not returned: a
    ``CancelledError`` from anywhere else (aiokafka raises them from tasks of
    its own) is a failure like any other, for the caller to retry.
    """
    try:
        await work
    except asyncio.CancelledError as exc:
        if cancelling():
            raise
        return exc
    except Exception as exc:
        return exc
    return None


def describe_failure(exc: BaseException) -> str:
    """One line naming a failure (a bare ``CancelledError`` says where it came from)."""
    if isinstance(exc, asyncio.CancelledError):
        return "CancelledError raised inside the Kafka client"
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
