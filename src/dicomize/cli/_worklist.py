"""``dicomize worklist``: the scheduled procedure steps a worklist holds, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from dicomize.cli._arguments import add_verbosity, add_worklist_keys, format_item
from dicomize.cli._common import EXIT_OK, EXIT_USAGE, fail, fail_query
from dicomize.errors import ConfigError, QueryError

__all__ = ["add_parser", "run"]


def add_parser(commands: Any, name: str, line: str) -> argparse.ArgumentParser:  # noqa: ANN401  (argparse's private type)
    """Add ``worklist`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=line,
        description="Query a Modality Worklist (C-FIND) and list what matches: date, time, "
        "accession, modality, procedure; with -v the patient too.",
    )
    parser.add_argument("url", metavar="URL", help="dicom://AET@host:port of the worklist")
    parser.add_argument("--accession", dest="kw_AccessionNumber", metavar="A", help="match")
    parser.add_argument("--patient-id", dest="kw_PatientID", metavar="ID", help="match")
    parser.add_argument("--modality", dest="kw_Modality", metavar="M", help="match (XC, ES, ...)")
    add_worklist_keys(parser)
    parser.add_argument("--calling-aet", metavar="AET", help="our AE title")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    add_verbosity(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    """Query and print; a worklist that cannot answer is one line, exit 2."""
    from dicomize.options import SendOptions
    from dicomize.worklist import WorklistQuery, query_worklist

    try:
        query = WorklistQuery(
            accession=args.kw_AccessionNumber,
            patient_id=args.kw_PatientID,
            scheduled=args.scheduled,
            modality=args.kw_Modality,
            station=args.scheduled_station,
        )
        options = SendOptions(calling_aet=args.calling_aet) if args.calling_aet else None
        items = query_worklist(args.url, query, options)
    except ConfigError as exc:
        fail(f"invalid arguments: {exc}")
        return EXIT_USAGE
    except QueryError as exc:
        return fail_query(exc)
    names = args.verbose > 0  # patient names and IDs only when asked for
    for item in items:
        summary = item.summary(names=names)
        print(json.dumps(summary) if args.json else format_item(summary))
    if not args.quiet and not args.json:
        print(f"dicomize: {len(items)} scheduled procedure step(s)", file=sys.stderr)
    return EXIT_OK
