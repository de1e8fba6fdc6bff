"""``availability replay``: statements from a file of events, offline."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from cli.args import add_as_of, add_format, add_min_coverage, add_store, count
from cli.errors import EXIT_USAGE, CliError
from cli.help import Subparsers, command
from cli.output import RECORD_FORMATS, check_coverage, print_records
from cli.settings import data_dir
from cli.store import open_store
from reports import finance_csv as export_csv
from schemas.codec import dumps, dumps_output
from sla.model import JSON
from sla.timeutil import format_instant

if TYPE_CHECKING:
    from fold.deadletters import DeadLetter
    from fold.folder import Folder


def register(subparsers: Subparsers) -> None:
    """Add ``replay``."""
    r = command(
        subparsers,
        "replay",
        "Fold a JSON Lines file of events into statements, service-month records and claim "
        "decisions, as of one instant. Bad lines are reported, summed up by reason and "
        "appended to the dead-letter file; the run goes on.",
        "availability replay data/march.jsonl --as-of 2026-04-11T00:00:00Z --format table",
        "availability replay events.jsonl --store none --quiet --max-dead-letters 0",
    )
    r.add_argument("events", help="the JSON Lines file of events ('-' reads stdin)")
    add_as_of(r, "compute as of this instant", "now")
    add_store(r, none=", or none to write nothing")
    add_format(
        r,
        (*RECORD_FORMATS, "csv"),
        None,
        "table: columns for reading; json: one JSON array; jsonl: one JSON record per "
        "line; csv: one row per contract-month, columns named as in the JSON (default: table "
        "on a terminal, jsonl when piped)",
    )
    r.add_argument(
        "--claims-csv",
        default=None,
        metavar="FILE",
        help="also write one CSV row per claim decision to FILE, columns named as in the JSON",
    )
    r.add_argument(
        "--dead-letters",
        default=None,
        metavar="FILE",
        help="append the rejected lines to FILE (default: DATA/dead-letters.jsonl when a store "
        "is written; none with --store none)",
    )
    r.add_argument(
        "-q", "--quiet", action="store_true", help="no line per dead letter, only the summary"
    )
    r.add_argument(
        "--max-dead-letters",
        type=count,
        default=None,
        metavar="N",
        help="fail (exit 1) as soon as more than N lines are rejected (default: no limit)",
    )
    add_min_coverage(r)
    r.set_defaults(func=run)


class _Progress:
    """A one-line progress bar on a terminal; silent when stderr is not a TTY."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.enabled = stream.isatty()
        self.shown = -1

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        pct = min(100, done * 100 // self.total)
        if pct != self.shown:
            self.shown = pct
            bar = "#" * (pct // 4)
            self.stream.write(f"\rreplay [{bar:<25}] {pct:3d}%")
            self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.shown >= 0:
            self.stream.write("\n")


def _reason_counts(dead: Sequence[Any]) -> str:
    counts: dict[str, int] = {}
    for d in dead:
        counts[d.reason] = counts.get(d.reason, 0) + 1
    return ", ".join(f"{r} {n}" for r, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def _numbered(fh: IO[bytes], progress: _Progress) -> Iterator[tuple[int, bytes]]:
    done = 0
    for no, line in enumerate(fh, start=1):
        done += len(line)
        if no % 4096 == 0:
            progress.update(done)
        raw = line.rstrip(b"\r\n")
        if raw.strip():
            yield no, raw
    progress.update(done)
    progress.close()


def _dead_letter_file(
    args: argparse.Namespace, store: object, fh: IO[bytes]
) -> tuple[Path | None, IO[str] | None]:
    """Where the dead letters are appended, and that file opened (None: nowhere)."""
    # --store none keeps the run free of side effects unless a file is named
    dl_path: Path | None = (
        Path(args.dead_letters)
        if args.dead_letters
        else (None if store is None else data_dir() / "dead-letters.jsonl")
    )
    if dl_path is None:
        return None, None
    try:
        dl_path.parent.mkdir(parents=True, exist_ok=True)
        # appended: an earlier run's dead letters are never overwritten
        return dl_path, dl_path.open("a", encoding="utf-8")
    except OSError as exc:
        fh.close()
        raise CliError(
            f"cannot write the dead letters to {dl_path}: {exc.strerror or exc} "
            "(choose another file with --dead-letters)",
            EXIT_USAGE,
        ) from None


def _ingest(
    args: argparse.Namespace,
    fh: IO[bytes],
    folder: Folder,
    dl_out: IO[str] | None,
    progress: _Progress,
) -> list[DeadLetter]:
    """Fold every line of ``fh``; report and append each dead letter, stop past the limit."""
    from fold.replay import BATCH, batched

    dead: list[DeadLetter] = []
    limit: int | None = args.max_dead_letters
    for batch in batched(_numbered(fh, progress), BATCH):
        raws = [raw for _, raw in batch]
        sources = [{"file": args.events, "line": no} for no, _ in batch]
        for dl in folder.ingest_batch(raws, sources):
            dead.append(dl)
            if not args.quiet:
                print(f"line {dl.source['line']}: {dl.reason}: {dl.detail}", file=sys.stderr)
            if dl_out is not None:
                dl_out.write(dumps(dl.to_json()) + "\n")
            if limit is not None and len(dead) > limit:
                progress.close()
                raise CliError(
                    f"more than {limit} dead letters (the last at line "
                    f"{dl.source['line']}: {dl.reason}); stopped before computing "
                    f"anything: {_reason_counts(dead)}"
                )
    return dead


def _print_outputs(args: argparse.Namespace, outputs: list[JSON]) -> None:
    """Print the outputs in ``--format``, and write ``--claims-csv`` when named."""
    if args.format == "csv":
        sys.stdout.write(
            export_csv.to_csv(
                export_csv.CONTRACT_MONTH_COLUMNS, export_csv.contract_month_rows(outputs)
            )
        )
    else:
        fmt = args.format or ("table" if sys.stdout.isatty() else "jsonl")
        print_records(outputs, fmt, encode=dumps_output)  # outputs only: no float
    sys.stdout.flush()
    if getattr(args, "claims_csv", None):
        Path(args.claims_csv).parent.mkdir(parents=True, exist_ok=True)
        Path(args.claims_csv).write_text(
            export_csv.to_csv(export_csv.CLAIM_COLUMNS, export_csv.claim_rows(outputs)),
            encoding="utf-8",
        )


def run(args: argparse.Namespace) -> int:
    """Replay ``args.events``; print, store and count what it gives."""
    # lazy: the fold (numpy and the rule engine) is only needed when a file is replayed
    from fold.folder import Folder
    from fold.replay import compute_outputs
    from sla.book import Book

    as_of: datetime = args.as_of or datetime.now(UTC)
    path = Path(args.events)
    try:
        fh = sys.stdin.buffer if args.events == "-" else path.open("rb")
    except OSError as exc:
        raise CliError(f"cannot read {args.events}: {exc.strerror or exc}", EXIT_USAGE) from None
    # the store is reached before anything is read, so an unreachable one
    # fails the run at once instead of after the results were printed
    store = None if args.store == "none" else open_store(args.store)
    try:
        if store is not None:
            store.migrate()
        dl_path, dl_out = _dead_letter_file(args, store, fh)
        total = path.stat().st_size if args.events != "-" else 0
        progress = _Progress(total, sys.stderr)
        book = Book()
        folder = Folder(book, as_of)
        with fh, dl_out if dl_out is not None else contextlib.nullcontext():
            dead = _ingest(args, fh, folder, dl_out, progress)
        n_events = sum(folder.stats.events.values())
        if dead:
            print(f"dead letters by reason: {_reason_counts(dead)}", file=sys.stderr)
        if n_events == 0:
            raise CliError(
                f"no valid event in {args.events} ({len(dead)} bad lines); nothing computed"
            )
        outputs = compute_outputs(book, as_of, folder.tickets)
        _print_outputs(args, outputs)
        if store is not None:
            store.write_outputs(outputs)
            store.write_dead_letters([d.to_json() for d in dead])
    finally:
        if store is not None:
            store.close()
    print(
        f"replayed {n_events} events as of {format_instant(as_of)}: "
        f"{len(outputs)} outputs, {len(dead)} dead letters"
        + (f" (appended to {dl_path})" if dl_path is not None and dead else ""),
        file=sys.stderr,
    )
    check_coverage(outputs, getattr(args, "min_coverage", None))
    return 0
