"""What keeps the web page safe: sign-in, CSRF tokens, security headers, an access log without data.

Sessions are Starlette's signed cookies (itsdangerous), keyed by a secret made
fresh at each start: a restart signs everyone out, which a front-desk tool can
afford, and no key lies on disk.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dicomize.errors import ConfigError

__all__ = [
    "Envelope",
    "Guard",
    "check_bind",
    "csrf_token",
    "require_csrf",
    "signed_in",
]

logger = logging.getLogger("dicomize.service.web.access")

#: No inline script or style, nothing from elsewhere, never inside a frame.
_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    # Pages show patient data: never kept by a shared computer's browser or a proxy.
    "cache-control": "no-store",
}
_OPEN_PATHS = ("/login", "/static/")


def is_loopback(host: str) -> bool:
    """Tell whether `host` names only this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, secret: str | None) -> None:
    """Refuse to listen beyond this machine without a secret to sign in with.

    Raises
    ------
    dicomize.errors.ConfigError
        When `host` is not a loopback address and `secret` is empty.
    """
    if not is_loopback(host) and not secret:
        raise ConfigError(
            f"listening on {host} needs a sign-in secret: set DICOMIZE_SERVE_SECRET or give "
            "--secret-file (never on the command line)"
        )


def signed_in(request: Request) -> bool:
    """Tell whether the session has signed in with the secret."""
    return bool(request.session.get("signed_in"))


def sign_in(request: Request, secret: str | None, offered: str) -> bool:
    """Sign the session in when `offered` is the secret (compared in constant time)."""
    if not secret or not hmac.compare_digest(secret.encode(), offered.encode()):
        return False
    request.session["signed_in"] = True
    return True


def csrf_token(request: Request) -> str:
    """Return the session's CSRF token, made on first use."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def require_csrf(request: Request, offered: str | None) -> Response | None:
    """Return a refusal unless `offered` is the session's token (form field or header)."""
    expected = request.session.get("csrf")
    if isinstance(expected, str) and offered and hmac.compare_digest(expected, offered):
        return None
    return PlainTextResponse(
        "The form has expired or came from another site: reload the page and try again.",
        status_code=403,
    )


class Guard:
    """With a secret, every page but sign-in needs a signed-in session."""

    def __init__(self, app: ASGIApp, secret: str | None) -> None:
        self.app = app
        self.secret = secret

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a signed-in (or open) request on; send the others to sign in."""
        if scope["type"] != "http" or not self.secret:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        path = scope["path"]
        if path.startswith(_OPEN_PATHS) or signed_in(request):
            await self.app(scope, receive, send)
            return
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            response: Response = RedirectResponse("/login", status_code=303)
        else:
            response = PlainTextResponse("Sign in first.", status_code=401)
        await response(scope, receive, send)


class Envelope:
    """Add the security headers to every answer, and log it on one line.

    The line holds the method, the route (ids only, never a query string), the
    status and the time. It replaces uvicorn's access log, which prints query
    strings and client addresses.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on; add the headers to its answer; log it."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        status: dict[str, Any] = {"code": 500}

        async def enveloped(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [
                    (name.encode(), value.encode())
                    for name, value in _HEADERS.items()
                    if name.encode() not in present
                ]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, enveloped)
        finally:
            logger.info(
                "%s %s %s %.0f ms",
                scope["method"],
                scope["path"],
                status["code"],
                (time.monotonic() - started) * 1000,
            )
