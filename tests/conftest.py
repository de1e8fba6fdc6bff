"""The marker guard: a test that touches ClickHouse or a Kafka broker must say so.

The markers of pyproject.toml pick the tiers (``-m "not kafka"`` runs without
a broker, ``-m "not clickhouse"`` without chDB), which holds only while every
test that needs one carries its marker. So, in the pytest process:

- opening a ClickHouse client from a test not marked ``clickhouse`` fails it:
  the client constructors of ``clickhouse_connect`` (``get_client`` and its
  aliases, which :func:`sinks.store.connect` and so every store goes
  through) are wrapped, and so is chDB's own ``connect`` (under
  ``chdb.query`` and ``chdb.connect``) once chDB is loaded;
- reaching a Kafka broker from a test not marked ``kafka`` fails it: a
  socket ``connect``/``connect_ex`` to an address of
  ``KAFKA_BOOTSTRAP_SERVERS``, or of a :class:`~devkit.localkafka.LocalKafka`
  broker started in this run and not stopped since (its freed port may be
  any later listener's), and starting a ``LocalKafka``. The socket is
  the hook because every Kafka client (kafka-python, aiokafka under Faust)
  ends there; a connection anywhere else (a fake server, a closed port) is
  no broker's and passes.

What counts is what happens while a test is set up or runs. A fixture that
opened a client or reached a broker is remembered, so a later test that
requests it must carry the marker too, even when the fixture (a session
engine, a session broker) was set up for an earlier test. When that happens
while a fixture is being set up, the test fails before its body runs and the
fixture stays usable; in the body, the guard raises at once, and fails the
test at its end should the code under test swallow that.

Limits: a subprocess started by a test (``availability ...`` through the
``cli`` fixture, a worker process) is not seen, nor is anything done while
tests are torn down (session fixtures close after whichever test ran last),
nor a chDB first loaded by a direct ``import chdb`` inside a test body
(``clickhouse_connect`` loads it through a guarded constructor).
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import clickhouse_connect
import pytest

from devkit.localkafka import LocalKafka

CLICKHOUSE = "clickhouse"
KAFKA = "kafka"
#: what a remembered fixture did, by marker
_DID = {CLICKHOUSE: "opened a ClickHouse client", KAFKA: "reached a Kafka broker"}
_CLIENT_FACTORIES = ("get_client", "create_client", "get_async_client", "create_async_client")

Address = tuple[str, int]


def _addresses(servers: str) -> set[Address]:
    """The (IP, port) pairs of a ``host:port,...`` list; a name that does not resolve has none."""
    found: set[Address] = set()
    for entry in servers.split(","):
        host, _, port = entry.strip().rpartition("://")[2].rpartition(":")
        if not host or not port.isdigit():
            continue
        try:
            infos = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_STREAM)
        except OSError:
            continue
        found.update((str(info[4][0]), int(info[4][1])) for info in infos)
    return found


def _message(item: pytest.Item, kind: str, what: str) -> str:
    return (
        f"{item.nodeid} {what} but is not marked `{kind}`: add @pytest.mark.{kind} "
        f'(or pytestmark = pytest.mark.{kind} in the module), so that -m "not {kind}" '
        "leaves it out (the marker guard of tests/conftest.py)"
    )


@dataclass
class _Guard:
    """Which test runs, which fixtures are being set up, and what they opened."""

    brokers: set[Address] = field(default_factory=set)
    #: the addresses of each LocalKafka started in this run, by ``id()``, until it is stopped
    local: dict[int, set[Address]] = field(default_factory=dict)
    item: pytest.Item | None = None
    #: (baseid, name) of the fixtures being set up, innermost last
    setting_up: list[tuple[str, str]] = field(default_factory=list)
    opened_by: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    chdb_wrapped: bool = False

    def touch(self, kind: str, what: str) -> None:
        """The running test opened ``kind``: fail it unless it carries that marker."""
        item = self.item
        if item is None:
            return
        for key in self.setting_up:
            self.opened_by.setdefault(key, set()).add(kind)
        if item.get_closest_marker(kind) is not None:
            return
        if self.setting_up:
            what = f"{what} (in the fixture `{self.setting_up[-1][1]}`)"
        self.failures.append(_message(item, kind, what))
        if not self.setting_up:
            pytest.fail(self.failures[-1], pytrace=False)

    def fixture_failures(self, item: pytest.Item) -> list[str]:
        """Messages for the remembered fixtures ``item`` requests without their marker."""
        names = set(item.fixturenames) if isinstance(item, pytest.Function) else set()
        found: list[str] = []
        for (baseid, name), kinds in self.opened_by.items():
            if name in names and item.nodeid.startswith(baseid):
                for kind in sorted(kinds):
                    if item.get_closest_marker(kind) is None:
                        found.append(
                            _message(item, kind, f"uses the fixture `{name}`, which {_DID[kind]},")
                        )
        return found


_GUARD = _Guard()
_PATCHES = pytest.MonkeyPatch()


def _guarded(func: Callable[..., Any], kind: str, what: str) -> Callable[..., Any]:
    @functools.wraps(func)
    def call(*args: Any, **kwargs: Any) -> Any:
        _GUARD.touch(kind, what)
        return func(*args, **kwargs)

    return call


_socket_connect = socket.socket.connect
_socket_connect_ex = socket.socket.connect_ex


def _is_broker(address: Address) -> bool:
    """An address of the session's broker, or of a local broker not stopped since.

    A stopped broker's port is free again, and the kernel may hand it to any
    later listener (a health server on port 0): a connection there is no
    broker's. A killed broker keeps its ports for its restart, so it counts.
    """
    return address in _GUARD.brokers or any(address in found for found in _GUARD.local.values())


def _check_address(address: Any) -> None:
    if isinstance(address, tuple) and len(address) >= 2:
        host, port = address[0], address[1]
        if _is_broker((host, port)):
            _GUARD.touch(KAFKA, f"connects to the Kafka broker at {host}:{port}")


def _checked(sock: socket.socket, address: Any) -> None:
    """Check ``address``; a failed test closes ``sock`` first.

    The failure is no ``OSError``, so ``socket.create_connection`` would not
    close the socket, and its later collection would fail another test with
    a ``ResourceWarning``.
    """
    try:
        _check_address(address)
    except BaseException:
        sock.close()
        raise


def _connect(sock: socket.socket, address: Any) -> None:
    _checked(sock, address)
    _socket_connect(sock, address)


def _connect_ex(sock: socket.socket, address: Any) -> int:
    _checked(sock, address)
    return _socket_connect_ex(sock, address)


_local_kafka_start = LocalKafka.start


def _start_local_kafka(broker: LocalKafka) -> LocalKafka:
    _GUARD.touch(KAFKA, "starts a local Kafka broker (devkit.localkafka.LocalKafka)")
    started = _local_kafka_start(broker)
    found = _addresses(broker.bootstrap_servers)
    if broker.sasl_ssl is not None:
        found |= _addresses(broker.sasl_ssl_bootstrap_servers)
    _GUARD.local[id(broker)] = found
    return started


_local_kafka_stop = LocalKafka.stop


def _stop_local_kafka(broker: LocalKafka, timeout: float = 30.0) -> None:
    _local_kafka_stop(broker, timeout)
    _GUARD.local.pop(id(broker), None)


def _wrap_chdb() -> None:
    """Guard chDB's own ``connect`` once chDB is loaded (importing it costs seconds)."""
    core = sys.modules.get("chdb._chdb")
    if core is None or _GUARD.chdb_wrapped:
        return
    _GUARD.chdb_wrapped = True
    _PATCHES.setattr(core, "connect", _guarded(core.connect, CLICKHOUSE, "opens chDB"))


def pytest_configure(config: pytest.Config) -> None:
    del config
    _GUARD.brokers |= _addresses(os.environ.get("KAFKA_BOOTSTRAP_SERVERS", ""))
    for name in _CLIENT_FACTORIES:
        what = f"opens a ClickHouse client (clickhouse_connect.{name})"
        _PATCHES.setattr(
            clickhouse_connect, name, _guarded(getattr(clickhouse_connect, name), CLICKHOUSE, what)
        )
    _PATCHES.setattr(socket.socket, "connect", _connect)
    _PATCHES.setattr(socket.socket, "connect_ex", _connect_ex)
    _PATCHES.setattr(LocalKafka, "start", _start_local_kafka)
    _PATCHES.setattr(LocalKafka, "stop", _stop_local_kafka)


def pytest_unconfigure(config: pytest.Config) -> None:
    del config
    _PATCHES.undo()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, object, object]:
    _wrap_chdb()
    _GUARD.item = item
    _GUARD.failures = []
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[Any], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    del request
    _GUARD.setting_up.append((fixturedef.baseid, fixturedef.argname))
    try:
        return (yield)
    finally:
        _GUARD.setting_up.pop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    found = _GUARD.failures or _GUARD.fixture_failures(item)
    if found:
        pytest.fail("\n".join(dict.fromkeys(found)), pytrace=False)
    result = yield
    if _GUARD.failures:
        pytest.fail("\n".join(dict.fromkeys(_GUARD.failures)), pytrace=False)
    return result


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    del item
    _GUARD.item = None
