"""`featurepulse identity build [--full]` and `featurepulse identity show --id X`.

Target: the local lake of `featurepulse local` (`.featurepulse/local.json`, else `.featurepulse/lake`), or
`--lake-dir DIR`. In AWS the report job builds the table before each report (docs/identity.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from featurepulse.cli import CliError
from featurepulse.cli_support import add_target_arguments, local_address_book, print_help


def register(subparsers: Any) -> None:
    identity = subparsers.add_parser(
        "identity",
        help="the identity table: which anonymous and user ids are one person",
        description="Build or inspect the identity table of the local lake (docs/identity.md).",
    )
    sub = identity.add_subparsers(dest="identity_command", metavar="COMMAND")
    build = sub.add_parser(
        "build",
        help="read new links from the events and rewrite the identity table",
        description="Incremental by default: reads the partitions from the last built day minus one and merges "
        "the links with the stored ones. --full reads every partition and starts from no stored link.",
    )
    build.add_argument("--full", action="store_true", help="rebuild from every partition")
    _add_target(build)
    build.set_defaults(func=run_build)
    show = sub.add_parser(
        "show",
        help="the person of an id and every id linked to it",
        description="Look an id up (user id or anonymous id) and print its person and all the person's ids.",
    )
    show.add_argument("--id", required=True, dest="lookup_id", help="a user id or an anonymous id")
    show.add_argument("--json", action="store_true", help="print JSON")
    _add_target(show)
    show.set_defaults(func=run_show)
    identity.set_defaults(func=lambda _args: print_help(identity))


def _add_target(parser: argparse.ArgumentParser) -> None:
    add_target_arguments(parser, bucket=False, lake_dir=True)


def lake_dir_of(args: argparse.Namespace) -> Path:
    if args.lake_dir is not None:
        return Path(args.lake_dir)
    book = local_address_book(args.local_dir)
    if book.get("lake_dir"):
        return Path(book["lake_dir"])
    return Path(args.local_dir) / "lake"


def run_build(args: argparse.Namespace) -> int:
    from featurepulse.local.identity import build_local

    lake_dir = lake_dir_of(args)
    if not lake_dir.is_dir():
        raise CliError(f"no local lake at {lake_dir}: run `make run` first, or give --lake-dir")
    result = build_local(lake_dir, full=args.full)
    print(result.summary())
    print(f"tables: {lake_dir / result.state.persons_key}, {lake_dir / result.state.links_key}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from featurepulse.domain.identity import person_ids
    from featurepulse.local.identity import local_identity_store

    lake_dir = lake_dir_of(args)
    store = local_identity_store(lake_dir)
    rows = store.read_identities()
    if not rows and store.read_state() is None:
        raise CliError(f"no identity table under {lake_dir}: run `featurepulse identity build` first")
    persons = {(r.id_kind, r.id): r.person_id for r in rows}
    matches = [r for r in rows if r.id == args.lookup_id]
    person = matches[0].person_id if matches else args.lookup_id
    ids = person_ids(persons, person)
    by_id = {(r.id_kind, r.id): r for r in rows}
    answer = {
        "id": args.lookup_id,
        "linked": bool(matches),
        "person_id": person,
        "ids": [
            {
                "id_kind": kind,
                "id": value,
                "linked_at": by_id[(kind, value)].linked_at,
                "link": by_id[(kind, value)].link,
            }
            for kind in ("user", "anonymous")
            for value in ids[kind]
        ],
    }
    if args.json:
        print(json.dumps(answer, indent=2))
        return 0
    if not matches:
        print(f"{args.lookup_id}: never linked; it is its own person")
        return 0
    if len({r.person_id for r in matches}) > 1:
        print(f"{args.lookup_id} is both a user id and an anonymous id; showing the person of the first row")
    print(f"person {person}")
    for item in answer["ids"]:
        print(f"  {item['id_kind']:<9} {item['id']}  (linked {item['linked_at']} by {item['link']})")
    return 0
