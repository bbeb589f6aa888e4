"""`featurepulse quarantine replay` and `featurepulse erase`: the lake's operator commands.

Targets, for both commands:
- default: the local stack of `featurepulse local` (`.featurepulse/local.json`): the local lake directory and
  quarantine directory, plus the moto lake bucket and stream while the stack is up (`featurepulse local --serve`);
- `--bucket NAME` (and `--stream-name NAME` for replay): a deployed stack, with the usual AWS credentials
  (`AWS_ENDPOINT_URL` is honoured, e.g. for moto);
- `erase --queue-url URL`: queue the request for the deployed erasure job (the stack output `ErasureQueueUrl`)
  instead of running it here.
"""

from __future__ import annotations

import argparse
import getpass
import re
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from featurepulse.address_book import local_stack_client, pid_alive
from featurepulse.cli import CliError
from featurepulse.cli_support import add_target_arguments, aws_errors_as_cli_errors, local_address_book, print_help

_RELATIVE = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def register(subparsers: Any) -> None:
    quarantine = subparsers.add_parser("quarantine", help="work with quarantined (invalid) events")
    quarantine_sub = quarantine.add_subparsers(dest="quarantine_command", metavar="COMMAND")
    replay = quarantine_sub.add_parser(
        "replay",
        help="re-validate quarantined events and send those now valid to the stream",
        description="Re-validate quarantined events with the current ingest rules; send the valid ones to the "
        "stream (dedup on source and event id keeps the numbers right); record the run under audit/replay/.",
    )
    replay.add_argument("--since", required=True, help="received at or after: 2026-11-25, 2026-11-25T08:00Z, 24h, 7d")
    replay.add_argument("--until", help="received at or before (default: now)")
    replay.add_argument("--reason", help="only events whose quarantine reason contains this text (case-insensitive)")
    replay.add_argument("--dry-run", action="store_true", help="re-validate and report; send and record nothing")
    replay.add_argument("--force", action="store_true", help="also resend events an earlier replay already sent")
    _add_target_arguments(replay)
    replay.add_argument("--stream-name", help="deployed stream (stack output EventStreamName); needs --bucket")
    replay.set_defaults(func=run_replay)
    quarantine.set_defaults(func=lambda _args: print_help(quarantine))

    erase = subparsers.add_parser(
        "erase",
        help="GDPR: remove every row of a user from the lake and the quarantine",
        description="Remove every row of the given users' persons (every aliased user id and every anonymous id "
        "the identity table gives them, docs/identity.md) from the lake, the quarantine and the identity "
        "tables, rewriting only the affected files; record an audit entry under audit/erasure/. Safe to re-run.",
    )
    erase.add_argument("--user-id", action="append", default=[], help="user id to erase (repeatable)")
    erase.add_argument("--file", type=Path, help="file with one user id per line (# comments allowed)")
    erase.add_argument("--anonymous-id", action="append", default=[], help="anonymous id to erase (repeatable)")
    erase.add_argument(
        "--no-linked-anonymous-ids",
        action="store_true",
        help="erase only the ids given: not the person's other user ids and anonymous ids",
    )
    erase.add_argument("--dry-run", action="store_true", help="report what would be removed; change nothing")
    erase.add_argument("--requested-by", help="who asked (recorded in the audit entry; default: you)")
    _add_target_arguments(erase)
    erase.add_argument("--queue-url", help="queue the request for the deployed erasure job (stack output)")
    erase.set_defaults(func=run_erase)


def _add_target_arguments(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, bucket=True, lake_dir=False)


# --- argument parsing helpers -------------------------------------------------------------------------
def parse_when(value: str, *, now: datetime | None = None) -> datetime:
    """An ISO date or time (UTC when no offset is given) or a relative age: 30m, 24h, 7d, 2w."""
    now = now or datetime.now(UTC)
    text = value.strip()
    relative = _RELATIVE.match(text)
    if relative:
        return now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(f"not a time: {value!r} (use 2026-11-25, 2026-11-25T08:00Z, 24h or 7d)") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def default_requester() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


# --- targets --------------------------------------------------------------------------------------------
@dataclass
class LocalStackInfo:
    root: Path
    lake_dir: Path
    quarantine_dir: Path
    running: bool
    aws_endpoint_url: str | None
    region: str
    lake_bucket: str | None
    stream_name: str | None


def read_local_stack(root: Path) -> LocalStackInfo:
    book = local_address_book(root)
    pid = book.get("pid")
    running = book.get("status") == "running" and isinstance(pid, int) and pid_alive(pid)
    return LocalStackInfo(
        root=root,
        lake_dir=Path(book.get("lake_dir") or root / "lake"),
        quarantine_dir=Path(book.get("quarantine_dir") or root / "quarantine"),
        running=running,
        aws_endpoint_url=book.get("aws_endpoint_url"),
        region=str(book.get("region") or "us-east-1"),
        lake_bucket=book.get("lake_bucket"),
        stream_name=book.get("stream_name"),
    )


def _local_client(info: LocalStackInfo, service: str) -> Any:
    """A client of the local stack's moto server, with the stack's fake credentials (the caller has none)."""
    return local_stack_client(service, region=info.region, endpoint_url=info.aws_endpoint_url)


def _aws_client(service: str) -> Any:
    import boto3

    return boto3.client(service)  # type: ignore[call-overload]


# --- replay ---------------------------------------------------------------------------------------------
def run_replay(args: argparse.Namespace) -> int:
    with aws_errors_as_cli_errors():
        return _run_replay(args)


def run_erase(args: argparse.Namespace) -> int:
    with aws_errors_as_cli_errors():
        return _run_erase(args)


def _run_replay(args: argparse.Namespace) -> int:
    from featurepulse.lake.replay import replay_quarantine
    from featurepulse.lake.replay_ingest import revalidate_with_ingest, stream_sender
    from featurepulse.lake.store import S3Store

    since = parse_when(args.since)
    until = parse_when(args.until) if args.until else None
    if args.bucket:
        if not args.stream_name and not args.dry_run:
            raise CliError("--bucket needs --stream-name (stack output EventStreamName) to send replayed events")
        store = S3Store(_aws_client("s3"), args.bucket)
        kinesis = _aws_client("kinesis") if args.stream_name else None
        stream_name = args.stream_name
    else:
        info = read_local_stack(args.local_dir)
        if not info.running or not info.lake_bucket or not info.stream_name:
            raise CliError(
                f"no local stack is running from {args.local_dir}: replay sends to its stream, so start it with "
                "`featurepulse local --serve` (or give --bucket/--stream-name for a deployed stack)"
            )
        store = S3Store(_local_client(info, "s3"), info.lake_bucket)
        kinesis = _local_client(info, "kinesis")
        stream_name = info.stream_name
    send = stream_sender(kinesis, stream_name) if kinesis is not None and stream_name else _no_send
    try:
        audit = replay_quarantine(
            store,
            since=since,
            until=until,
            reason=args.reason,
            revalidate=revalidate_with_ingest,
            send=send,
            requested_by=default_requester(),
            dry_run=args.dry_run,
            force=args.force,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    verb = "would replay" if args.dry_run else "replayed"
    print(
        f"{store.description}: {audit.selected} quarantined events selected ({audit.scanned} scanned), "
        f"{audit.skipped_already_replayed} already replayed earlier; {verb} {len(audit.replayed)}, "
        f"still invalid {len(audit.still_invalid)}, failed to send {len(audit.send_failed)}"
    )
    reasons: dict[str, int] = {}
    for item in audit.still_invalid:
        reasons[item.reason] = reasons.get(item.reason, 0) + 1
    for reason, count in sorted(reasons.items(), key=lambda kv: -kv[1])[:10]:
        print(f"  still invalid ({count}): {reason}")
    if audit.audit_key:
        print(f"audit entry: {store.description}/{audit.audit_key}")
    return 1 if audit.send_failed else 0


def _no_send(events: Sequence[dict[str, Any]]) -> Sequence[tuple[str, str]]:
    return []


# --- erase ----------------------------------------------------------------------------------------------
def _run_erase(args: argparse.Namespace) -> int:
    from featurepulse.lake.erasure import ErasureRequest, read_user_ids

    user_ids = set(args.user_id)
    if args.file is not None:
        try:
            user_ids |= read_user_ids(args.file.read_text(encoding="utf-8").splitlines())
        except OSError as exc:
            raise CliError(f"cannot read {args.file}: {exc.strerror or exc}") from None
    try:
        request = ErasureRequest(
            user_ids=frozenset(user_ids),
            anonymous_ids=frozenset(args.anonymous_id),
            include_linked_anonymous_ids=not args.no_linked_anonymous_ids,
        )
    except ValueError as exc:
        raise CliError(f"{exc} (use --user-id, --file or --anonymous-id)") from None

    if args.queue_url:
        return _queue_erasure(args.queue_url, request, requested_by=args.requested_by or default_requester())

    from featurepulse.lake.local import local_lake_store
    from featurepulse.lake.store import ObjectStore, S3Store

    stores: list[ObjectStore] = []
    if args.bucket:
        stores.append(S3Store(_aws_client("s3"), args.bucket))
        requested_by = args.requested_by or _caller_identity() or default_requester()
    else:
        info = read_local_stack(args.local_dir)
        if not info.lake_dir.is_dir() and not info.quarantine_dir.is_dir():
            raise CliError(f"no local lake under {args.local_dir}: run `make run` first, or give --bucket")
        stores.append(local_lake_store(info.lake_dir, info.quarantine_dir))
        if info.running and info.lake_bucket:
            stores.append(S3Store(_local_client(info, "s3"), info.lake_bucket))
        requested_by = args.requested_by or default_requester()
    for store in stores:
        _erase_in(store, request, requested_by=requested_by, dry_run=args.dry_run)
    return 0


def _erase_in(store: Any, request: Any, *, requested_by: str, dry_run: bool) -> None:
    from featurepulse.lake.erasure import LakeEraser

    audit = LakeEraser(store, log=lambda line: print(f"  {line}", file=sys.stderr)).erase(
        request, requested_by=requested_by, dry_run=dry_run
    )
    verb = "would remove" if dry_run else "removed"
    print(
        f"{store.description}: {verb} {audit.rows_removed} rows from {len(audit.lake_files)} of "
        f"{audit.lake_files_scanned} data files, {audit.quarantine_events_removed} quarantined events, "
        f"{audit.error_records_removed} Firehose error records"
        + (f" (with {audit.linked_anonymous_ids} linked anonymous ids)" if audit.linked_anonymous_ids else "")
    )
    if audit.audit_key:
        print(f"audit entry: {store.description}/{audit.audit_key}")


def _queue_erasure(queue_url: str, request: Any, *, requested_by: str) -> int:
    from featurepulse.lake.erasure_job import ErasureMessage

    message = ErasureMessage(
        user_ids=sorted(request.user_ids),
        anonymous_ids=sorted(request.anonymous_ids),
        include_linked_anonymous_ids=request.include_linked_anonymous_ids,
        requested_by=requested_by,
    )
    sqs = _aws_client("sqs")
    response = sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=message.model_dump_json(),
        MessageGroupId="erasure",
    )
    print(f"erasure request queued (message {response['MessageId']}); the audit entry appears under audit/erasure/")
    return 0


def _caller_identity() -> str | None:
    try:
        arn: str = _aws_client("sts").get_caller_identity()["Arn"]
    except Exception:  # no credentials / no STS: fall back to the local user name
        return None
    return arn
