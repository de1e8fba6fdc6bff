"""``python -m devkit.localkafka fetch|run|start|stop``: the broker's command line."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from devkit.localkafka.base import (
    DEFAULT_KAFKA_VERSION,
    LocalKafkaError,
    _tail,
)
from devkit.localkafka.broker import LocalKafka
from devkit.localkafka.jars import fetch
from devkit.localkafka.processes import stop_pid


class _Interrupted(BaseException):
    """Raised from a signal handler to unwind ``run`` cleanly."""


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    def handler(signum: int, _frame: object) -> None:
        raise _Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextlib.contextmanager
def _ignoring_signals() -> Iterator[None]:
    sigs = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in sigs}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _cmd_fetch(args: argparse.Namespace) -> int:
    print(fetch(args.version, args.cache_dir))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    broker = LocalKafka(args.version, cache_dir=args.cache_dir, data_dir=args.data_dir)
    status = 0
    try:
        with _stop_on_signals():
            broker.start()
            print(f"KAFKA_BOOTSTRAP_SERVERS={broker.bootstrap_servers}", flush=True)
            while broker.is_running():
                time.sleep(0.5)
            print(
                f"Kafka exited unexpectedly; log tail:\n{_tail(broker.log_path)}",
                file=sys.stderr,
            )
            status = 1
    except _Interrupted:
        pass
    finally:
        # A second signal must not cut the shutdown short.
        with _ignoring_signals():
            broker.stop()
    return status


def _cmd_start(args: argparse.Namespace) -> int:
    broker = LocalKafka(
        args.version, cache_dir=args.cache_dir, data_dir=args.data_dir, die_with_parent=False
    )
    broker.start()
    try:
        bootstrap = broker.bootstrap_servers
        _atomic_write(args.env_file, f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}\n")
        _atomic_write(args.pidfile, f"{broker.pid}\n")
    except BaseException:
        broker.stop()
        raise
    pid = broker.detach()
    print(f"KAFKA_BOOTSTRAP_SERVERS={bootstrap}  (pid {pid})")
    return 0


def _cmd_stop(args: argparse.Namespace) -> int:
    pidfile: Path = args.pidfile
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        print(f"no broker pid in {pidfile}", file=sys.stderr)
        return 0
    stopped = stop_pid(pid, args.timeout)
    pidfile.unlink(missing_ok=True)
    print(f"stopped Kafka pid {pid}" if stopped else f"Kafka pid {pid} was not running")
    return 0


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devkit.localkafka",
        description="Fetch and run a local single-node Apache Kafka broker (KRaft).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--version",
            default=None,
            help=f"Kafka release (default: $KAFKA_VERSION or {DEFAULT_KAFKA_VERSION})",
        )
        p.add_argument(
            "--cache-dir",
            type=Path,
            default=None,
            help="jar cache (default: $AVAILABILITY_CACHE or <repo>/.cache)",
        )

    p_fetch = sub.add_parser("fetch", help="download the broker jars; print the libs directory")
    common(p_fetch)
    p_fetch.set_defaults(func=_cmd_fetch)

    p_run = sub.add_parser("run", help="run a broker in the foreground until SIGTERM/SIGINT")
    common(p_run)
    p_run.add_argument("--data-dir", type=Path, default=None, help="keep data here (default: temp)")
    p_run.set_defaults(func=_cmd_run)

    p_start = sub.add_parser("start", help="start a detached broker")
    common(p_start)
    p_start.add_argument("--data-dir", type=Path, default=None, help="keep data here")
    p_start.add_argument("--pidfile", type=Path, required=True, help="write the JVM pid here")
    p_start.add_argument(
        "--env-file", type=Path, required=True, help="write KAFKA_BOOTSTRAP_SERVERS=... here"
    )
    p_start.set_defaults(func=_cmd_start)

    p_stop = sub.add_parser("stop", help="stop a broker started with 'start'")
    p_stop.add_argument("--pidfile", type=Path, required=True)
    p_stop.add_argument("--timeout", type=float, default=30.0, help="seconds before SIGKILL")
    p_stop.set_defaults(func=_cmd_stop)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m devkit.localkafka``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except LocalKafkaError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
