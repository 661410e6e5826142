"""The delivery flags of ``send``, ``convert`` and ``batch``; argparse only, nothing heavy."""

from __future__ import annotations

import argparse

__all__ = ["add_send_arguments"]


def add_send_arguments(parser: argparse.ArgumentParser, *, command: bool) -> None:
    """Add the delivery flags; `command` adds --to, else --send."""
    group = parser.add_argument_group("delivery (secrets only from the environment or a file)")
    if command:
        group.add_argument(
            "--to",
            required=True,
            metavar="URL",
            help="dicom://AET@host:port (C-STORE) or https://host/dicom-web (STOW-RS)",
        )
    else:
        group.add_argument(
            "--send",
            metavar="URL",
            help="after converting, send the outputs to dicom://AET@host:port or a DICOMweb root",
        )
    group.add_argument(
        "--calling-aet", default="DICOMIZE", metavar="AET", help="our AE title (default DICOMIZE)"
    )
    group.add_argument("--tls", action="store_true", help="DICOM TLS for dicom:// destinations")
    group.add_argument("--ca-file", metavar="PEM", help="trust these CA certificates (TLS, https)")
    group.add_argument("--cert-file", metavar="PEM", help="client certificate (DICOM TLS)")
    group.add_argument("--key-file", metavar="PEM", help="client private key (DICOM TLS)")
    secrets = group.add_mutually_exclusive_group()
    secrets.add_argument("--token-env", metavar="VAR", help="bearer token from this variable")
    secrets.add_argument("--token-file", metavar="FILE", help="bearer token from this file")
    secrets.add_argument("--basic-env", metavar="VAR", help="'user:password' from this variable")
    secrets.add_argument("--basic-file", metavar="FILE", help="'user:password' from this file")
    group.add_argument(
        "--batch-size",
        type=int,
        default=20,
        metavar="N",
        help="instances per STOW-RS request (default 20)",
    )
    group.add_argument(
        "--retries",
        type=int,
        default=3,
        metavar="N",
        help="retries after a lost connection or a 5xx answer (default 3)",
    )
    group.add_argument("--connect-timeout", type=float, default=10.0, metavar="S")
    group.add_argument("--acse-timeout", type=float, default=30.0, metavar="S")
    group.add_argument("--dimse-timeout", type=float, default=60.0, metavar="S")
    group.add_argument(
        "--delete-after-store",
        action="store_true",
        help="delete each file after the peer confirmed storing it",
    )
    if command:
        group.add_argument(
            "--report",
            metavar="FILE.jsonl",
            help="one JSON line per file: input, output, UID, status, error",
        )
