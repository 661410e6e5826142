"""What keeps the web page safe: sign-in, CSRF, host names, headers, an access log without data.

Sessions are Starlette's signed cookies (itsdangerous), keyed by a secret made
fresh at each start: a restart signs everyone out, which a front-desk tool can
afford, and no key lies on disk. A sign-in lasts one ward shift (12 hours) at
most, however busy the page; signing out ends it on the server too, so a copy
of the cookie is refused from then on.

Wrong secrets are limited per client and for all clients together (429 with
``Retry-After``); a request must name a host the service is configured for
(loopback names and ``--allowed-host``), which stops DNS rebinding, and a
state-changing request from a browser must come from such a host's page.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import math
import secrets
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dicomize.errors import ConfigError

__all__ = [
    "LOOPBACK_NAMES",
    "MIN_SECRET",
    "SESSION_SECONDS",
    "Envelope",
    "Gate",
    "Guard",
    "Protection",
    "SignIns",
    "check_bind",
    "check_secret",
    "csrf_token",
    "require_csrf",
    "sign_in",
    "sign_out",
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
#: Sent over HTTPS only; no includeSubDomains: the service does not speak for its neighbours.
_HSTS = (b"strict-transport-security", b"max-age=31536000")
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: The host names a request may name without --allowed-host: this machine's.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: The shortest sign-in secret `serve` starts with.
MIN_SECRET = 16
#: How long a sign-in lasts at most: one ward shift, not the 14 days of Starlette's default.
SESSION_SECONDS = 12 * 3600
#: Wrong secrets are counted over this many seconds ...
SIGN_IN_WINDOW = 15 * 60
#: ... this many from one client ...
CLIENT_FAILURES = 5
#: ... and this many from all clients together, before sign-in waits (429).
ALL_FAILURES = 50


@dataclass(frozen=True, kw_only=True, slots=True)
class Protection:
    """Which host names the service answers to, and whether a TLS proxy stands in front.

    Parameters
    ----------
    allowed_hosts : tuple of str
        Host names (or addresses) accepted besides :data:`LOOPBACK_NAMES`.
    behind_https_proxy : bool
        A proxy on this machine terminates TLS: the session cookie is ``Secure``, and
        ``X-Forwarded-Proto`` and ``X-Forwarded-For`` from loopback are believed.
    """

    allowed_hosts: tuple[str, ...] = ()
    behind_https_proxy: bool = False

    def hosts(self) -> frozenset[str]:
        """Return every accepted host name, as :func:`host_name` writes them."""
        return frozenset(host_name(name) for name in (*LOOPBACK_NAMES, *self.allowed_hosts))


def host_name(value: str) -> str:
    """Return the host of a ``Host`` header or ``--allowed-host`` value: no port, lower case.

    >>> host_name("[::1]:8080"), host_name("LocalHost.:80"), host_name("::1")
    ('::1', 'localhost', '::1')
    """
    value = value.strip().lower()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:
        value = value.split(":")[0]
    return value.rstrip(".")


def check_allowed_host(name: str) -> str:
    """Return `name` as given by ``--allowed-host``, or refuse what is not a host name.

    Raises
    ------
    dicomize.errors.ConfigError
        When `name` is empty, a wildcard, or carries a scheme, port or path.
    """
    if not name or any(c in name for c in "/*@ \t") or host_name(name) != name.lower().rstrip("."):
        raise ConfigError(
            f"--allowed-host {name!r} is not a host name: give the name people type, such as "
            "dicomize.clinic.example, without scheme, port or path"
        )
    return name


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


def check_secret(secret: str | None) -> None:
    """Refuse a sign-in secret shorter than :data:`MIN_SECRET` characters (never quoting it).

    Raises
    ------
    dicomize.errors.ConfigError
        When `secret` is given and too short.
    """
    if secret and len(secret) < MIN_SECRET:
        raise ConfigError(
            f"the sign-in secret is {len(secret)} characters long: use at least {MIN_SECRET}, "
            "for example from: python3 -c 'import secrets; print(secrets.token_urlsafe(24))'"
        )


class SignIns:
    """What sign-in remembers: wrong secrets lately, and sessions signed out before they expired.

    Both stay small: wrong secrets are counted only while sign-in is open, at most
    :data:`ALL_FAILURES` per window, and a session can be signed out only by someone
    who had the secret.
    """

    def __init__(
        self,
        *,
        per_client: int = CLIENT_FAILURES,
        overall: int = ALL_FAILURES,
        window: float = SIGN_IN_WINDOW,
    ) -> None:
        self.per_client = per_client
        self.overall = overall
        self.window = window
        self._clients: dict[str, deque[float]] = {}
        self._all: deque[float] = deque()
        self._ended: dict[str, float] = {}

    def wait(self, client: str) -> int:
        """Return the seconds `client` must wait before another try; 0 when it may try now."""
        now = time.monotonic()
        self._forget(now)
        waits = []
        mine = self._clients.get(client, ())
        if len(mine) >= self.per_client:
            waits.append(mine[-self.per_client] + self.window - now)
        if len(self._all) >= self.overall:
            waits.append(self._all[-self.overall] + self.window - now)
        return max(1, math.ceil(max(waits))) if waits else 0

    def failed(self, client: str) -> None:
        """Count a wrong secret from `client`."""
        now = time.monotonic()
        self._clients.setdefault(client, deque()).append(now)
        self._all.append(now)

    def succeeded(self, client: str) -> None:
        """Forget `client`'s wrong secrets (not the count of all clients)."""
        self._clients.pop(client, None)

    def end(self, session: str) -> None:
        """Refuse `session` from now until its cookie would have expired anyway."""
        now = time.time()
        self._ended = {k: v for k, v in self._ended.items() if v > now}
        self._ended[session] = now + SESSION_SECONDS

    def ended(self, session: str) -> bool:
        """Tell whether `session` was signed out."""
        return session in self._ended

    def _forget(self, now: float) -> None:
        since = now - self.window
        while self._all and self._all[0] <= since:
            self._all.popleft()
        for client in list(self._clients):
            times = self._clients[client]
            while times and times[0] <= since:
                times.popleft()
            if not times:
                del self._clients[client]


def _sign_ins(request: Request) -> SignIns | None:
    state = request.scope.get("app")
    found = getattr(getattr(state, "state", None), "sign_ins", None)
    return found if isinstance(found, SignIns) else None


def signed_in(request: Request) -> bool:
    """Tell whether the session signed in with the secret, within a shift, and did not sign out."""
    session, since = request.session.get("signed_in"), request.session.get("since")
    if not isinstance(session, str) or not isinstance(since, int | float):
        return False
    if not 0 <= time.time() - since < SESSION_SECONDS:
        return False
    sign_ins = _sign_ins(request)
    return sign_ins is None or not sign_ins.ended(session)


def sign_in(request: Request, secret: str | None, offered: str) -> bool:
    """Sign the session in when `offered` is the secret (compared in constant time).

    The session starts afresh (a new CSRF token too), under a new id that
    :func:`sign_out` can end.
    """
    if not secret or not hmac.compare_digest(secret.encode(), offered.encode()):
        return False
    request.session.clear()
    request.session["signed_in"] = secrets.token_urlsafe(16)
    request.session["since"] = int(time.time())
    return True


def sign_out(request: Request) -> None:
    """End the session: its cookie is cleared, and a copy of it is refused."""
    session = request.session.get("signed_in")
    sign_ins = _sign_ins(request)
    if isinstance(session, str) and sign_ins is not None:
        sign_ins.end(session)
    request.session.clear()


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


class Gate:
    """Answer only to the configured host names; refuse a browser's change from another origin.

    A DNS-rebinding page reaches the service under its own name (``Host:
    evil.example``): it gets 400 before any session or CSRF token is made. A
    state-changing request that a browser says came from elsewhere (``Origin`` not one
    of those hosts, or ``Sec-Fetch-Site`` cross-site or same-site) gets 403, as a
    second line behind the CSRF token; a request that says neither goes on to the token
    check.
    """

    def __init__(self, app: ASGIApp, protection: Protection) -> None:
        self.app = app
        self.hosts = protection.hosts()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass a request for an allowed host on; refuse the others."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        response: Response | None = None
        if host_name(headers.get("host", "")) not in self.hosts:
            response = PlainTextResponse(
                "This address is not one this service answers to: open the page at the address "
                "you were given.",
                status_code=400,
            )
        elif scope["method"] not in _SAFE_METHODS and not self._same_origin(headers):
            response = PlainTextResponse(
                "The form came from another site: reload the page and try again.",
                status_code=403,
            )
        if response is None:
            await self.app(scope, receive, send)
        else:
            await response(scope, receive, send)

    def _same_origin(self, headers: Headers) -> bool:
        """Tell whether a browser says the request came from one of the service's own pages.

        The pages' ``Referrer-Policy: no-referrer`` makes browsers send ``Origin: null`` even
        from the same origin; ``Sec-Fetch-Site`` tells the two apart where browsers send it.
        """
        if headers.get("sec-fetch-site", "same-origin") not in {"same-origin", "none"}:
            return False
        origin = headers.get("origin", "null")
        if origin == "null":
            return True
        parts = urlsplit(origin)
        return parts.scheme in {"http", "https"} and host_name(parts.netloc) in self.hosts


class Envelope:
    """Add the security headers to every answer (HSTS over HTTPS), and log it on one line.

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
                if scope.get("scheme") == "https" and _HSTS[0] not in present:
                    extra.append(_HSTS)
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
