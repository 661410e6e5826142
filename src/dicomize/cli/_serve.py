"""``dicomize serve``: the web page for staff, over the same journal and worker as ``watch``."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from dicomize.cli._arguments import add_convert_arguments, add_send_arguments, send_options
from dicomize.cli._common import EXIT_OK, log_service, refuse
from dicomize.cli._watch import add_keep_days, service_settings
from dicomize.errors import ConfigError, InputError, MetadataError, QueryError

__all__ = ["add_parser", "run"]

#: Where the sign-in secret may come from besides --secret-file (never the command line).
SECRET_VARIABLE = "DICOMIZE_SERVE_SECRET"  # noqa: S105  (a variable name, not a secret)


def add_parser(commands: Any, name: str, line: str) -> argparse.ArgumentParser:  # noqa: ANN401  (argparse's private type)
    """Add ``serve`` to the subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=line,
        description="Serve the web page on 127.0.0.1 (another address needs a sign-in secret "
        f"from ${SECRET_VARIABLE} or --secret-file). Files are converted at once, previewed "
        "from their DICOM objects, and sent when the user says so.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("-o", "--output", metavar="OUT", help="also keep the DICOM objects here")
    parser.add_argument(
        "--state",
        metavar="DIR",
        help="the journal, spool and uploads (default $XDG_STATE_HOME/dicomize/serve)",
    )
    parser.add_argument(
        "--secret-file",
        metavar="FILE",
        help="the sign-in secret (16 characters at least), from this file",
    )
    parser.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="also answer to this host name, as people type it (repeatable; default: "
        "localhost, 127.0.0.1, ::1 and the --host address)",
    )
    parser.add_argument(
        "--behind-https-proxy",
        action="store_true",
        help="a TLS proxy on this machine forwards to serve: the session cookie is Secure, "
        "and its X-Forwarded-Proto and X-Forwarded-For are believed",
    )
    parser.add_argument("--certfile", metavar="PEM", help="serve HTTPS with this certificate")
    parser.add_argument("--keyfile", metavar="PEM", help="and this private key")
    parser.add_argument(
        "--max-upload-mb", type=int, default=4096, metavar="MB", help="per upload (default 4096)"
    )
    parser.add_argument(
        "--max-files", type=int, default=50, metavar="N", help="per upload (default 50)"
    )
    add_keep_days(parser, held=True)
    add_convert_arguments(parser, single=False)
    add_send_arguments(parser, command=False)
    return parser


def _state(args: argparse.Namespace) -> Path:
    if args.state:
        return Path(args.state)
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "dicomize" / "serve"


def _read_secret(args: argparse.Namespace) -> str | None:
    if args.secret_file:
        try:
            return Path(args.secret_file).read_text(encoding="utf-8").strip() or None
        except OSError as exc:
            raise ConfigError(f"--secret-file {args.secret_file}: {exc.strerror or exc}") from None
    return os.environ.get(SECRET_VARIABLE, "").strip() or None


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted; return the exit code."""
    from dicomize.service.web.security import check_bind, check_secret

    try:
        secret = _read_secret(args)
        check_secret(secret)
        check_bind(args.host, secret)
        _check_tls(args)
        # The page picks the order itself; the worklist is not asked again per file.
        settings = replace(service_settings(args, args.output), worklist=None)
        web = _web_settings(args, secret)
        protection = _protection(args)
    except (QueryError, MetadataError, ConfigError, InputError) as exc:
        return refuse(exc, args)
    log_service(args)
    import uvicorn

    from dicomize.service.web import create_app

    app = create_app(web, settings, protection)
    scheme = "https" if args.certfile else "http"
    if not args.quiet:
        print(f"dicomize: serving on {scheme}://{args.host}:{args.port}", file=sys.stderr)
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        access_log=False,  # ours (security.Envelope) prints no query strings
        log_level="debug" if args.debug else "warning",
        ssl_certfile=args.certfile,
        ssl_keyfile=args.keyfile,
        server_header=False,
        # X-Forwarded-* only from the proxy of --behind-https-proxy, on this machine.
        proxy_headers=args.behind_https_proxy,
        forwarded_allow_ips="127.0.0.1,::1",
    )
    return EXIT_OK


def _check_tls(args: argparse.Namespace) -> None:
    if bool(args.certfile) != bool(args.keyfile):
        raise ConfigError("HTTPS needs both --certfile and --keyfile")


def _protection(args: argparse.Namespace) -> Any:  # noqa: ANN401
    from dicomize.service.web import Protection
    from dicomize.service.web.security import check_allowed_host

    hosts = [check_allowed_host(name) for name in args.allowed_host]
    if args.host not in {"0.0.0.0", "::", ""}:  # noqa: S104  (an address that names no host)
        hosts.append(args.host)  # an address typed into the browser cannot be rebound
    return Protection(allowed_hosts=tuple(hosts), behind_https_proxy=args.behind_https_proxy)


def _web_settings(args: argparse.Namespace, secret: str | None) -> Any:  # noqa: ANN401
    from dicomize.service.web import WebSettings

    return WebSettings(
        state=_state(args),
        secret=secret,
        worklist=args.worklist,
        worklist_options=send_options(args),
        max_upload=args.max_upload_mb << 20,
        max_files=args.max_files,
        https=bool(args.certfile),
    )
