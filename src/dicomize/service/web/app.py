"""The web page: find the order, drop files, check the objects, send them.

Server-rendered pages (Jinja2) and one small script for drag and drop, upload
progress, validation as you type and live status; no build step. Every file
becomes a job of the same journal ``watch`` uses: converted at once and held,
previewed from the DICOM object itself, sent when the user says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import json
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from dicomize.errors import ConfigError, DicomizeError, MetadataError
from dicomize.options import SendOptions
from dicomize.service.journal import Job, JobState, Journal, state_in_words, waits_to_retry
from dicomize.service.web.messages import (
    FIELD_LABELS,
    KIND_NOUNS,
    left_out,
    mended_by_settings,
    not_sent,
    plain_error,
)
from dicomize.service.web.readable import (
    DateNotUnderstood,
    birth_date,
    parse_date,
    person_name,
    readable_date,
    searched_name,
    typed_name,
    typed_sex,
)
from dicomize.service.web.recent import Recent
from dicomize.service.web.security import (
    SESSION_SECONDS,
    Envelope,
    Gate,
    Guard,
    Protection,
    SignIns,
    csrf_token,
    require_csrf,
    sign_in,
    sign_out,
    signed_in,
)
from dicomize.service.web.uploads import (
    UploadRefused,
    check_free_space,
    decoded_pixels,
    megapixels,
    receive_files,
    safe_name,
)
from dicomize.service.web.visits import (
    KIND_HEADINGS,
    LATERALITIES,
    SERIES_FIELDS,
    copy_series,
    iod_choices,
    job_metadata,
    job_options,
    left_out_of,
    new_series,
    place,
    series_kind,
    settings_in_words,
)
from dicomize.service.worker import ServiceSettings, Worker

__all__ = ["WebSettings", "create_app"]

logger = logging.getLogger(__name__)

_HERE = Path(__file__).parent
#: What a person types when there is no worklist, checked with the command line's rules.
PATIENT_FIELDS = (
    ("PatientID", "Patient ID", True),
    ("PatientName", "Name (family, given)", False),
    ("PatientBirthDate", "Birth date (e.g. 4.12.1980, day first)", False),
    ("PatientSex", "Sex (female, male or other: F, M or O)", False),
    ("AccessionNumber", "Accession number", False),
    ("StudyDescription", "Study description", False),
)
#: Patient Sex (C.7.1.1) as the page reads it back.
_SEX_WORDS = {"F": "female", "M": "male", "O": "other"}
_VISIT = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: The longest video stream read into memory for its preview frame.
_PREVIEW_VIDEO = 512 << 20
#: Worklist answers kept for the person to choose from, by token.
_FOUND_FOR = 15 * 60.0
#: How long a card's attributes and preview are kept in memory for the page's polling.
_KEPT_FOR = 10 * 60.0
#: Previews rendered at once: each decodes a whole picture (a frame of 150 megapixels is 450 MB).
_PREVIEWS = 2
#: How long a preview waits for its turn before the page is told to ask again.
_PREVIEW_WAIT = 60.0
#: Pictures (at the pixel limit each) one upload and the files of one visit not yet sent may
#: hold once decoded: a small file can decode into a large picture, and its object is as large.
_UPLOAD_PICTURES = 4
_VISIT_PICTURES = 16
#: Bytes per decoded pixel the object of a picture may take in the spool (RGB, 8 bits).
_BYTES_PER_PIXEL = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class WebSettings:
    """How the web page runs.

    Parameters
    ----------
    state : pathlib.Path
        The journal, the spool and the private upload folder.
    secret : str or None
        The sign-in secret; required when listening beyond loopback.
    worklist : str or None
        Search this worklist for orders (``dicom://AET@host:port``).
    worklist_options : SendOptions
        How to reach it.
    max_upload : int
        Bytes one upload (all its files) may hold.
    max_files : int
        Files one upload may hold.
    max_upload_pixels, max_visit_pixels : int or None
        Pixels the pictures of one upload, and the files of one visit not yet sent,
        may hold once decoded (read from each picture's header, every frame counted).
        None: four and sixteen times the pixel limit of one picture (``--max-pixels``).
    min_free_disk : int
        Bytes of free disk space under the state folder below which no upload is
        taken (an upload is also refused when it, or its objects, would not fit).
    https : bool
        Served over HTTPS: the session cookie is then sent over HTTPS only.
    """

    state: Path
    #: Left out of the repr, which ends up in logs and tracebacks.
    secret: str | None = field(default=None, repr=False)
    worklist: str | None = None
    worklist_options: SendOptions = field(default_factory=SendOptions)
    max_upload: int = 4 << 30
    max_files: int = 50
    max_upload_pixels: int | None = None
    max_visit_pixels: int | None = None
    min_free_disk: int = 1 << 30
    https: bool = False


class _Service:
    """The journal, the worker thread and what the pages remember between requests."""

    def __init__(self, web: WebSettings, settings: ServiceSettings) -> None:
        self.web = web
        self.settings = settings
        self.uploads = web.state / "uploads"
        self.uploads.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.uploads, 0o700)  # noqa: PTH101  (private even if it existed)
        self.journal = Journal(web.state / "journal.sqlite")
        self.worker = Worker(self.journal, settings, web.state / "spool", _UploadFiling(self))
        self.wake = threading.Event()
        self.found: dict[str, tuple[float, Any]] = {}
        #: Held while a visit is read, changed and saved: uploads and settings arrive together.
        self.visits = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.worker.recover()
        self._sweep_uploads()
        self._thread = threading.Thread(target=self._work, name="dicomize-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.worker.stopping.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.journal.close()

    def _sweep_uploads(self) -> None:
        """Remove what no job holds from the upload folder: uploads cut off by a stop or a crash.

        An upload becomes jobs once it has arrived in full; a request that failed removes
        what it wrote, but a service stopped (or killed) mid-upload cannot.
        """
        held = {Path(job.source) for job in self.journal.batch_prefix("web/")}
        for visit in [p for p in self.uploads.iterdir() if p.is_dir() and not p.is_symlink()]:
            for path in visit.iterdir():
                if path not in held and (path.is_file() or path.is_symlink()):
                    logger.info("an upload no job holds is removed (left by a stop mid-upload)")
                    path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # files of the visit's jobs are left
                visit.rmdir()

    def budgets(self) -> tuple[int, int]:
        """Return the decoded pixels one upload and one visit's unsent files may hold."""
        limit = self.settings.convert_options.max_pixels
        upload = self.web.max_upload_pixels or _UPLOAD_PICTURES * limit
        return upload, self.web.max_visit_pixels or _VISIT_PICTURES * limit

    def _work(self) -> None:
        while not self.worker.stopping.is_set():
            try:
                worked = self.worker.step()
            except Exception:  # the worker thread must outlive any one job
                logger.exception("the worker failed a step; going on")
                worked = False
            if not worked:
                wake = self.journal.next_wake()
                pause = 1.0 if wake is None else min(1.0, max(wake - time.time(), 0.05))
                self.wake.wait(pause)
                self.wake.clear()

    def remember(self, item: Any) -> str:  # noqa: ANN401  (a WorklistItem)
        now = time.time()
        self.found = {k: v for k, v in self.found.items() if now - v[0] < _FOUND_FOR}
        token = secrets.token_urlsafe(16)
        self.found[token] = (now, item)
        return token


class _UploadFiling:
    """An upload is deleted once the PACS has its object; a failed one stays where it is.

    A file that failed (damaged, cancelled while the PACS was away) is the visit's
    only copy but the phone's: it is kept until the person removes it on the page
    or the retention rule lets it go. The visit's folder goes when empty.
    """

    def __init__(self, service: _Service) -> None:
        self.service = service

    def destination(self, job: Job, error: str | None) -> Path | None:
        return Path(job.source) if error else None

    def filed(self, job: Job, destination: Path | None, error: str | None) -> None:  # noqa: ARG002
        folder = Path(job.source).parent
        with contextlib.suppress(OSError):  # not empty yet: another file of the visit
            folder.rmdir()


def create_app(
    web: WebSettings, settings: ServiceSettings, protection: Protection | None = None
) -> Starlette:
    """Return the ASGI application of ``dicomize serve``.

    Parameters
    ----------
    web : WebSettings
        Where its state lives, sign-in, worklist and upload limits.
    settings : ServiceSettings
        What is done with each file, as for ``watch``.
    protection : Protection, optional
        The host names it answers to and whether a TLS proxy is in front (default:
        loopback names, no proxy).
    """
    protection = protection or Protection()
    service = _Service(web, settings)
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
    templates.env.filters["person"] = person_name
    templates.env.filters["when"] = readable_date
    pages = _Pages(service, templates)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            await run_in_threadpool(service.stop)

    routes = [
        Route("/", pages.home, methods=["GET"]),
        Route("/search", pages.search, methods=["POST"]),
        Route("/check", pages.check, methods=["POST"]),
        Route("/visit", pages.new_visit, methods=["POST"]),
        Route("/visit/{visit}", pages.visit, methods=["GET"]),
        Route("/visit/{visit}/files", pages.files, methods=["GET"]),
        Route("/visit/{visit}/files", pages.upload, methods=["POST"]),
        Route("/visit/{visit}/series", pages.series, methods=["POST"]),
        Route("/visit/{visit}/remove", pages.remove, methods=["POST"]),
        Route("/visit/{visit}/move", pages.move, methods=["POST"]),
        Route("/visit/{visit}/send", pages.send, methods=["POST"]),
        Route("/visit/{visit}/preview/{job:int}", pages.preview, methods=["GET"]),
        Route("/history", pages.history, methods=["GET"]),
        Route("/history/{job:int}/retry", pages.retry, methods=["POST"]),
        Route("/history/{job:int}/cancel", pages.cancel, methods=["POST"]),
        Route("/login", pages.login, methods=["GET", "POST"]),
        Route("/logout", pages.logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(Envelope),
        Middleware(Gate, protection=protection),  # before any session or CSRF token is made
        Middleware(
            SessionMiddleware,
            secret_key=secrets.token_urlsafe(32),
            session_cookie="dicomize_session",
            max_age=SESSION_SECONDS,
            same_site="strict",
            https_only=web.https or protection.behind_https_proxy,
        ),
        Middleware(Guard, secret=web.secret),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.service = service
    app.state.sign_ins = SignIns()
    return app


def _form_value(form: Any, name: str) -> str:  # noqa: ANN401  (Starlette's FormData)
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


class _Pages:
    """The request handlers; each page is rendered on the server."""

    def __init__(self, service: _Service, templates: Jinja2Templates) -> None:
        self.service = service
        self.templates = templates
        #: Each preview decodes a whole picture: a few at a time, the others wait their turn.
        self.previews = asyncio.Semaphore(_PREVIEWS)

    def _render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:  # noqa: ANN401
        context.update(
            csrf=csrf_token(request),
            signed_in=signed_in(request),
            needs_sign_in=bool(self.service.web.secret),
            worklist=self.service.web.worklist,
            sends_to=self.service.settings.send,
            card_keys=CARD_KEYS,
            detail_keys=DETAIL_KEYS,
        )
        return self.templates.TemplateResponse(request, name, context, status_code=status)

    async def _form(self, request: Request) -> tuple[Any, Response | None]:
        form = await request.form(max_files=0, max_fields=64, max_part_size=64 * 1024)
        return form, require_csrf(request, _form_value(form, "csrf"))

    # -- step 1: the patient or order ---------------------------------------------------------

    async def home(self, request: Request) -> Response:
        return self._render(request, "home.html", fields=PATIENT_FIELDS, values={}, errors={})

    async def search(self, request: Request) -> Response:
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        keys = {name: _form_value(form, name) for name in ("accession", "name", "date")}
        if not self.service.web.worklist:
            return PlainTextResponse("No worklist is configured.", status_code=400)
        try:
            items = await run_in_threadpool(self._search, keys)
        except (DicomizeError, DateNotUnderstood) as exc:
            return self._render(
                request,
                "home.html",
                status=400,
                fields=PATIENT_FIELDS,
                values={},
                errors={},
                keys=keys,
                search_error=str(exc),
            )
        # A person checks two identifiers, the name and the birth date; the day's orders by time.
        shown = []
        for item in items:
            born = str(item.dataset.get("PatientBirthDate") or "")
            shown.append((item, {**item.summary(names=True), "birth_date": born}))
        shown.sort(key=lambda pair: (pair[1]["date"], pair[1]["time"]))
        found = [(self.service.remember(item), summary) for item, summary in shown]
        return self._render(
            request,
            "home.html",
            fields=PATIENT_FIELDS,
            values={},
            errors={},
            keys=keys,
            found=found,
        )

    def _search(self, keys: dict[str, str]) -> list[Any]:
        from dicomize.worklist import WorklistQuery, query_worklist

        name = searched_name(keys["name"])  # "Müller Z" and "Müller, Z" are Müller^Z*
        query = WorklistQuery(
            accession=keys["accession"] or None,
            patient_name=name or None,
            scheduled=parse_date(keys["date"], ranges=True)
            if keys["date"]
            else ("today" if not (keys["accession"] or name) else None),
        )
        assert self.service.web.worklist is not None  # noqa: S101  (checked by the caller)
        return query_worklist(self.service.web.worklist, query, self.service.web.worklist_options)

    async def check(self, request: Request) -> Response:
        """Check one typed value with the command line's rules (called as the user types)."""
        refused = require_csrf(request, request.headers.get("x-csrf-token"))
        if refused is not None:
            return refused
        try:
            body = json.loads(await request.body())
        except ValueError:  # not JSON, or not UTF-8
            body = None
        if not isinstance(body, dict):
            return JSONResponse(
                {"error": "send a JSON object with keyword and value"}, status_code=400
            )
        keyword, value = str(body.get("keyword", "")), str(body.get("value", ""))
        allowed = {name for name, _, _ in PATIENT_FIELDS} | set(SERIES_FIELDS)
        if keyword not in allowed:
            return JSONResponse({"error": "not a field of this page"}, status_code=400)
        _, reading, problem = _typed(keyword, value)
        return JSONResponse({"error": problem, "reading": reading})

    async def new_visit(self, request: Request) -> Response:
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        choice = _form_value(form, "choice")
        if choice:
            found = self.service.found.get(choice)
            if found is None:
                return PlainTextResponse(
                    "That search result has expired: search again.", status_code=400
                )
            try:
                patient, _ = await run_in_threadpool(_from_worklist, found[1])
            except DicomizeError as exc:
                return PlainTextResponse(
                    f"The worklist item cannot be used: {exc}", status_code=400
                )
            summary = found[1].summary(names=True)
        else:
            shown = {name: _form_value(form, name) for name, _, _ in PATIENT_FIELDS}
            typed = {name: _typed(name, value) for name, value in shown.items()}
            values = {name: value for name, (value, _, _) in typed.items()}
            errors = {name: problem for name, (_, _, problem) in typed.items() if problem}
            if not values["PatientID"]:
                errors["PatientID"] = "a Patient ID is needed: the objects must find their patient"
            if errors:
                return self._render(
                    request,
                    "home.html",
                    status=400,
                    fields=PATIENT_FIELDS,
                    values=shown,
                    errors=errors,
                )
            patient = {name: value for name, value in values.items() if value}
            summary = {
                "patient_id": values["PatientID"],
                "patient_name": values["PatientName"],
                "accession": values["AccessionNumber"],
                "procedure": values["StudyDescription"],
            }
        visit = secrets.token_urlsafe(18)
        self.service.journal.save_visit(
            visit,
            {
                "patient": patient,
                "summary": summary,
                "series": [new_series()],
                "names": {},
            },
        )
        return RedirectResponse(f"/visit/{visit}", status_code=303)

    # -- steps 2-4: files, checks, sending ----------------------------------------------------

    def _visit(self, visit: str) -> dict[str, Any] | None:
        return self.service.journal.visit(visit) if _VISIT.match(visit) else None

    def _live(self, visit_id: str, visit: dict[str, Any]) -> list[Job]:
        """Return the jobs of a visit, less those removed on the page.

        A file removed now has no job left; a visit saved before lists its removed
        files' jobs, kept as failed, in ``removed``.
        """
        removed = set(visit.get("removed", []))
        jobs = self.service.journal.batch_prefix(f"web/{visit_id}/")
        return [job for job in jobs if job.id not in removed]

    async def visit(self, request: Request) -> Response:
        visit_id = request.path_params["visit"]
        visit = self._visit(visit_id)
        if visit is None:
            return PlainTextResponse("No such visit.", status_code=404)
        rows = await run_in_threadpool(self._rows, visit_id, visit)
        notice = request.session.pop("notice", None)
        return self._render(
            request,
            "visit.html",
            visit_id=visit_id,
            visit=visit,
            series=_series_views(visit, rows),
            summary=self._summary(rows),
            notice=notice if isinstance(notice, dict) and notice.get("visit") == visit_id else None,
            lateralities=LATERALITIES,
            max_files=self.service.web.max_files,
            max_upload=self.service.web.max_upload,
        )

    async def files(self, request: Request) -> Response:
        visit_id = request.path_params["visit"]
        visit = self._visit(visit_id)
        if visit is None:
            return PlainTextResponse("No such visit.", status_code=404)
        rows = await run_in_threadpool(self._rows, visit_id, visit)
        return self._render(
            request,
            "files.html",
            visit_id=visit_id,
            series=_series_views(visit, rows),
            summary=self._summary(rows),
        )

    def _rows(self, visit_id: str, visit: dict[str, Any]) -> list[dict[str, Any]]:
        names = visit.get("names", {})
        rows = []
        for job in self._live(visit_id, visit):
            index = _series_index(job)
            if index >= len(visit["series"]):
                continue  # a series the visit no longer has
            shown = names.get(str(job.id)) or Path(job.name).name
            rows.append(_row(job, shown, visit["series"][index], self.service.web.state))
        return rows

    def _summary(self, rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Say where the visit stands once it is sent: on its way, done, or not sent in full."""
        states = [row["state"] for row in rows]
        done, failed = states.count(JobState.DONE), states.count(JobState.FAILED)
        on_the_way = sum(state in (JobState.CONVERTED, JobState.STORED) for state in states)
        sends = bool(self.service.settings.send)
        if on_the_way:
            where = "in the PACS" if sends else "filed"
            return {"done": False, "text": f"Sending: {done} of {done + on_the_way} {where}."}
        if not done or any(state in (JobState.NEW, JobState.HELD) for state in states):
            return None
        committed = all(row["committed"] for row in rows if row["state"] == JobState.DONE)
        if not sends:
            where = "filed in the output folder"
        elif committed:
            where = "stored and committed in the PACS"
        else:
            where = "stored in the PACS"
        text = f"{_count(done, 'object')} {where}."
        if failed:
            # A file that failed and is still here is one the person has not given up on.
            lost = [(row["name"], row["failed_at"]) for row in rows if row["failed_at"]]
            return {"done": False, "warn": True, "text": f"{text} {not_sent(lost)}"}
        return {"done": True, "text": text}

    async def upload(self, request: Request) -> Response:
        visit_id = request.path_params["visit"]
        visit = self._visit(visit_id)
        if visit is None:
            return JSONResponse({"error": "No such visit."}, status_code=404)
        refused = require_csrf(request, request.headers.get("x-csrf-token"))
        if refused is not None:
            return refused
        try:
            series = int(request.query_params.get("series", "0"))
            visit["series"][series]
        except (ValueError, IndexError):
            return JSONResponse({"error": "No such series."}, status_code=400)
        folder = self.service.uploads / visit_id
        try:
            received = await receive_files(
                request,
                folder,
                max_bytes=self.service.web.max_upload,
                max_files=self.service.web.max_files,
                reserve=self.service.web.min_free_disk,
            )
            taken, notes, made = await self._taken(visit_id, series, received)
        except UploadRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        except ClientDisconnect:
            # A reload or a closed tab, not a fault: the page says what did not arrive.
            logger.info("an upload ended when the browser went away; its partial files are removed")
            return Response(status_code=400)
        self.service.wake.set()
        return JSONResponse({"jobs": taken, "notes": notes, "reload": made})

    async def _taken(
        self, visit_id: str, series: int, received: list[tuple[str, Path]]
    ) -> tuple[list[int], list[str], bool]:
        """Take the files received (:meth:`_take`); remove them if they are not taken."""
        try:
            return await run_in_threadpool(self._take, visit_id, series, received)
        except BaseException:
            # Nothing of a request that failed stays behind: no job holds these files.
            for _, path in received:
                path.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # the visit's other files are left
                (self.service.uploads / visit_id).rmdir()
            raise

    def _take(
        self, visit_id: str, series: int, received: list[tuple[str, Path]]
    ) -> tuple[list[int], list[str], bool]:
        """Make a job of each file, in a series of its kind; say which went elsewhere.

        The last value says whether the page must be loaded again to show its series.
        """
        from dicomize.inputs import content_kind
        from dicomize.service.worker import file_digest

        taken: list[int] = []
        elsewhere: dict[int, list[str]] = {}
        made = False
        # Read before the visit is held: a long clip's digest takes seconds.
        options = self.service.settings.convert_options
        kinds = [(shown, path, content_kind(path, options)) for shown, path in received]
        # A whole-slide image is gigabytes, a series of many objects: not the page's to take.
        slides = [shown for shown, path, kind in kinds if kind == "slide"]
        for _, path, kind in kinds:
            if kind == "slide":
                path.unlink(missing_ok=True)
        files = [
            (shown, path, kind, file_digest(path), path.stat())
            for shown, path, kind in kinds
            if kind != "slide"
        ]
        pixels = {
            path: decoded_pixels(path, passthrough=options.passthrough)
            for _, path, kind, _, _ in files
            if kind == "picture"
        }
        self._within_budget(sum(pixels.values()))
        with self.service.visits:
            visit = self.service.journal.visit(visit_id)
            assert visit is not None  # noqa: S101  (visits are never deleted by the page)
            live = self._live(visit_id, visit)
            self._within_visit_budget(visit, live, sum(pixels.values()))
            occupied = {_series_index(job) for job in live}
            forms = [iod_choices(series_kind(settings)) for settings in visit["series"]]
            for shown, path, kind, digest, stat in files:
                index, new = place(visit, series, kind, occupied)
                made = made or new
                job = self.service.journal.add(
                    origin="web",
                    batch=f"web/{visit_id}/{index}",
                    source=str(path),
                    name=f"{visit_id}/{index}/{safe_name(shown)}",
                    size=stat.st_size,
                    mtime_ns=stat.st_mtime_ns,
                    digest=digest,
                    metadata=job_metadata(visit, index),
                    options=job_options(visit, index),
                )
                visit.setdefault("names", {})[str(job.id)] = shown
                if pixels.get(path):
                    visit.setdefault("pixels", {})[str(job.id)] = pixels[path]
                taken.append(job.id)
                if index != series:
                    elsewhere.setdefault(index, []).append(shown)
            self.service.journal.save_visit(visit_id, visit)
            # A series that became one of clips, documents or models shows other settings.
            made = made or any(
                iod_choices(series_kind(settings)) != form
                for settings, form in zip(visit["series"], forms, strict=False)
            )
        notes = [
            f"{', '.join(names)} went to series {index + 1}, "
            f"{KIND_HEADINGS[series_kind(visit['series'][index])]}: a series holds one kind "
            "of file, so pictures, clips, PDF documents and 3D models each have their own."
            for index, names in elsewhere.items()
        ]
        if slides:
            notes.append(_not_taken_slides(slides))
        return taken, notes, made

    def _within_budget(self, pixels: int) -> None:
        """Refuse an upload whose pictures decode into more than one upload may hold, or fit.

        Raises
        ------
        UploadRefused
            With what to do; the caller removes the files.
        """
        upload, _ = self.service.budgets()
        if pixels > upload:
            raise UploadRefused(
                f"These pictures hold {megapixels(pixels)} once opened; one upload may hold "
                f"at most {megapixels(upload)}. Add fewer pictures at a time.",
                status=413,
            )
        # Each picture's object holds its pixels: the disk must hold them, and some to spare.
        check_free_space(
            self.service.uploads, pixels * _BYTES_PER_PIXEL, self.service.web.min_free_disk
        )

    def _within_visit_budget(self, visit: dict[str, Any], live: list[Job], pixels: int) -> None:
        """Refuse pictures that would take the files of a visit not yet sent past its budget."""
        _, budget = self.service.budgets()
        counted = visit.get("pixels", {})
        held = sum(int(counted.get(str(job.id), 0)) for job in live if job.state != JobState.DONE)
        if held + pixels > budget:
            raise UploadRefused(
                f"Not taken: this visit holds {megapixels(held)} not yet sent, and these "
                f"pictures {megapixels(pixels)} more; a visit may hold at most "
                f"{megapixels(budget)}. Send the files of this visit, or remove some, "
                "before adding more.",
                status=413,
            )

    async def series(self, request: Request) -> Response:
        """Add a series, or change one: its held files are converted again with the new values.

        The page's script sends each change as it is made and takes a JSON answer;
        without the script, the form's button sends them all and the page comes back.
        """
        visit_id = request.path_params["visit"]
        visit = self._visit(visit_id)
        if visit is None:
            return PlainTextResponse("No such visit.", status_code=404)
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        if _form_value(form, "action") == "add":
            await run_in_threadpool(self._add_series, visit_id)
            return RedirectResponse(f"/visit/{visit_id}", status_code=303)
        changed = {name: _form_value(form, name) for name in SERIES_FIELDS}
        index = _form_value(form, "index")
        if not index.isdigit():
            return PlainTextResponse("No such series.", status_code=400)
        problems, count = await run_in_threadpool(
            self._apply, visit_id, int(index), changed, _form_value(form, "iod")
        )
        return _settings_answer(request, visit_id, problems, count)

    def _add_series(self, visit_id: str) -> None:
        with self.service.visits:
            visit = self.service.journal.visit(visit_id)
            assert visit is not None  # noqa: S101  (visits are never deleted by the page)
            visit["series"].append(new_series())
            self.service.journal.save_visit(visit_id, visit)

    def _apply(
        self, visit_id: str, index: int, changed: dict[str, str], iod: str
    ) -> tuple[dict[str, str], int]:
        """Check and keep a series' settings; return the problems, or the files redone."""
        with self.service.visits:
            visit = self.service.journal.visit(visit_id)
            assert visit is not None  # noqa: S101  (visits are never deleted by the page)
            if index >= len(visit["series"]):
                return {"index": "no such series"}, 0
            current = visit["series"][index]
            if index in self._sent(visit_id, visit):
                # Its objects are in the PACS, or on their way: a change would give the series
                # two modalities or lateralities (PS3.3 A.1.2.3), and would not reach them.
                moved = [name for name, value in changed.items() if value != current.get(name, "")]
                if iod and iod != current["iod"]:
                    moved.append("iod")
                return dict.fromkeys(moved, _sent_words(index)), 0
            problems = {
                name: problem
                for name, value in changed.items()
                if (problem := _problem(name, value))
            }
            choices = dict(iod_choices(series_kind(current)))
            if not choices:
                iod = current["iod"]  # a document's or a model's IOD follows its format
            elif iod not in choices:
                problems["iod"] = f"choose one of {', '.join(choices.values())}"
            if problems:
                return problems, 0
            current.update(changed, iod=iod)
            self.service.journal.save_visit(visit_id, visit)
            count = self._reconvert(visit_id, visit, index)
        self.service.wake.set()
        return {}, count

    def _reconvert(self, visit_id: str, visit: dict[str, Any], index: int) -> int:
        """Convert the held files of a series again with its settings; return how many.

        A file that failed to convert for what the settings decide (an IOD that had no
        place for what the station gives, say) is tried again too: the change is meant to
        mend it. A damaged file stays as it failed, to be removed.
        """
        count = 0
        for job in self._live(visit_id, visit):
            unconverted = (
                job.state == JobState.FAILED and not job.outputs and mended_by_settings(job.error)
            )
            if _series_index(job) != index or not (
                job.state in (JobState.HELD, JobState.NEW) or unconverted
            ):
                continue  # another series, or already on its way: it stays as it was sent
            for output in job.outputs:
                Path(output).unlink(missing_ok=True)
            self.service.journal.update(
                job.id,
                state=JobState.NEW,
                metadata=job_metadata(visit, index),
                options=job_options(visit, index),
                outputs=[],
                error="",
                attempts=0,
                moved_to="",  # a failed upload was "filed" where it lies: it is taken again
                next_try=0.0,
            )
            count += 1
        return count

    async def remove(self, request: Request) -> Response:
        """Take a failed or held file off the visit: its upload and object go, nothing sent."""
        return await self._act(request, self._remove)

    async def move(self, request: Request) -> Response:
        """Move a held file to another series (or a new one), converted again there."""
        return await self._act(request, self._move)

    async def _act(self, request: Request, act: Callable[..., str]) -> Response:
        visit_id = request.path_params["visit"]
        if self._visit(visit_id) is None:
            return PlainTextResponse("No such visit.", status_code=404)
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        job_id = _form_value(form, "job")
        if not job_id.isdigit():
            return PlainTextResponse("No such file.", status_code=400)
        said = await run_in_threadpool(act, visit_id, int(job_id), _form_value(form, "series"))
        self.service.wake.set()
        # No file name in the cookie: the session is signed, not encrypted.
        request.session["notice"] = {"visit": visit_id, "text": said}
        # The page opens at what came of it: the Remove or Move button is far below.
        return RedirectResponse(f"/visit/{visit_id}#notice", status_code=303)

    def _job_of(self, visit_id: str, visit: dict[str, Any], job_id: int) -> Job | None:
        job = self.service.journal.get(job_id)
        if job is None or not job.batch.startswith(f"web/{visit_id}/"):
            return None
        return None if job_id in visit.get("removed", []) else job

    def _remove(self, visit_id: str, job_id: int, _: str) -> str:
        with self.service.visits:
            visit = self.service.journal.visit(visit_id)
            assert visit is not None  # noqa: S101  (checked by the caller)
            job = self._job_of(visit_id, visit, job_id)
            if job is None:
                return "That file is no longer on this visit."
            if job.state not in (JobState.HELD, JobState.FAILED):
                return "A file can be removed once it is converted, and until it is sent."
            # A person's decision, not a failure: its row goes, so History lists nothing of
            # it; unless it was sent meanwhile (the Send button, in another tab).
            if not self.service.journal.forget(job):
                return "That file is on its way to the PACS now: it can no longer be removed."
            # Nothing of it was sent: its upload (kept for a failed file too) and object go.
            Path(job.source).unlink(missing_ok=True)
            for output in job.outputs:
                Path(output).unlink(missing_ok=True)
            visit.get("names", {}).pop(str(job.id), None)
            visit.get("pixels", {}).pop(str(job.id), None)
            self.service.journal.save_visit(visit_id, visit)
        with contextlib.suppress(OSError):  # not empty yet: another file of the visit
            Path(job.source).parent.rmdir()
        return "The file was removed; nothing of it was sent."

    def _move(self, visit_id: str, job_id: int, target: str) -> str:
        with self.service.visits:
            visit = self.service.journal.visit(visit_id)
            assert visit is not None  # noqa: S101  (checked by the caller)
            job = self._job_of(visit_id, visit, job_id)
            if job is None:
                return "That file is no longer on this visit."
            if job.state != JobState.HELD:
                return "A file can be moved once it is converted, and until it is sent."
            here = _series_index(job)
            kind = series_kind(visit["series"][here])
            others = [other for other in self._live(visit_id, visit) if other.id != job.id]
            occupied = {_series_index(other) for other in others}
            if target == "new":
                # The file keeps what it had: its series' settings go with it.
                visit["series"].append(copy_series(visit["series"][here]))
                to = len(visit["series"]) - 1
            elif target.isdigit() and int(target) < len(visit["series"]) and int(target) != here:
                to = int(target)
            else:
                return "Choose the series to move the file to."
            if place(visit, to, kind, occupied)[0] != to:
                heading = KIND_HEADINGS[series_kind(visit["series"][to])].lower()
                return f"Series {to + 1} holds {heading}: a series holds one kind of file."
            for output in job.outputs:
                Path(output).unlink(missing_ok=True)
            batch = f"web/{visit_id}/{to}"
            self.service.journal.update(
                job.id,
                batch=batch,
                name=f"{visit_id}/{to}/{Path(job.name).name}",
                # The series' count, as for a file added: its files forgotten or moved away
                # still have their numbers in the PACS.
                instance_number=self.service.journal.next_instance(batch),
                metadata=job_metadata(visit, to),
                options=job_options(visit, to),
                state=JobState.NEW,
                outputs=[],
                error="",
                next_try=0.0,
            )
            self.service.journal.save_visit(visit_id, visit)
        has = settings_in_words(visit["series"][to]) or "no description, laterality or body part"
        return f"The file was moved to series {to + 1} and is converted again there, with {has}."

    async def send(self, request: Request) -> Response:
        visit_id = request.path_params["visit"]
        visit = self._visit(visit_id)
        if visit is None:
            return PlainTextResponse("No such visit.", status_code=404)
        _, refused = await self._form(request)
        if refused is not None:
            return refused
        problem = await run_in_threadpool(self._send, visit_id, visit)
        if problem:
            request.session["notice"] = {"visit": visit_id, "text": problem, "send": True}
            return RedirectResponse(f"/visit/{visit_id}#send-section", status_code=303)
        self.service.wake.set()
        return RedirectResponse(f"/visit/{visit_id}#files", status_code=303)

    def _send(self, visit_id: str, visit: dict[str, Any]) -> str:
        """Send the held files of a visit; or say why nothing can be sent."""
        with self.service.visits:  # a setting changed meanwhile would miss the files sent
            visit = self.service.journal.visit(visit_id) or visit
            return self._send_held(visit_id, visit)

    def _send_held(self, visit_id: str, visit: dict[str, Any]) -> str:
        jobs = self._live(visit_id, visit)
        if not jobs:
            return "Add at least one file before sending."
        converting = sum(job.state == JobState.NEW for job in jobs)
        if converting:
            return f"Wait until every file is converted ({converting} still converting), then send."
        held = [job for job in jobs if job.state == JobState.HELD]
        if not held:
            if all(job.state == JobState.FAILED for job in jobs):
                return "No file is ready to send: remove the failed ones and add them again."
            if any(job.state == JobState.FAILED for job in jobs):
                return "Nothing else is ready to send: remove the failed file, or add it again."
            return "Everything on this visit has been sent already."
        state = JobState.CONVERTED if self.service.settings.send else JobState.STORED
        for job in held:
            self.service.journal.update(job.id, state=state, next_try=0.0)
        # Their series are the PACS's now: their kind and settings stay, after retention too.
        for index in {_series_index(job) for job in held}:
            if index < len(visit["series"]):
                visit["series"][index]["sent"] = True
        self.service.journal.save_visit(visit_id, visit)
        return ""

    def _sent(self, visit_id: str, visit: dict[str, Any]) -> set[int]:
        """Return the series of a visit that were sent (a visit saved before marking them too)."""
        placed = [(_series_index(job), str(job.state)) for job in self._live(visit_id, visit)]
        return _sent_series(visit, placed)

    async def preview(self, request: Request) -> Response:
        visit_id = request.path_params["visit"]
        job = self.service.journal.get(request.path_params["job"])
        if job is None or not job.batch.startswith(f"web/{visit_id}/") or not job.outputs:
            return PlainTextResponse("No preview.", status_code=404)
        output = Path(job.outputs[0])
        try:
            stamp = output.stat().st_mtime_ns
        except OSError:
            return PlainTextResponse("No preview.", status_code=404)
        png = _thumbnail.kept(str(output), stamp, default=b"")
        if png == b"":
            try:  # its turn among the previews being rendered: each decodes a whole picture
                await asyncio.wait_for(self.previews.acquire(), _PREVIEW_WAIT)
            except TimeoutError:
                response = PlainTextResponse(
                    "The server is busy making other previews: reload the page in a moment.",
                    status_code=503,
                )
                response.headers["Retry-After"] = "10"
                return response
            try:
                png = await run_in_threadpool(_thumbnail, str(output), stamp)
            finally:
                self.previews.release()
        if png is None:
            return PlainTextResponse("No preview for this kind of object.", status_code=404)
        return Response(png, media_type="image/png")

    async def history(self, request: Request) -> Response:
        """Show the latest jobs and those that need a person, each with its state and reason."""
        # Without a secret there is no sign-in (loopback only): whoever sees the page may.
        names = not self.service.web.secret or signed_in(request)
        stuck, rows = await run_in_threadpool(self._history, names)
        note = request.session.pop("history_note", "")
        return self._render(request, "history.html", stuck=stuck, rows=rows, names=names, note=note)

    def _history(self, names: bool) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        journal, now = self.service.journal, time.time()
        visits: dict[str, dict[str, Any] | None] = {}

        def row(job: Job) -> dict[str, Any]:
            visit_id = job.batch.split("/")[1] if job.origin == "web" else ""
            if visit_id and visit_id not in visits:
                visits[visit_id] = journal.visit(visit_id)
            visit = visits.get(visit_id)
            who = ""
            if names:
                summary = (visit or {}).get("summary", {})
                name = summary.get("patient_name") or job.metadata.get("PatientName") or ""
                number = summary.get("patient_id") or job.metadata.get("PatientID") or ""
                who = f"{person_name(name)} ({number})" if name else number
            # A web file by the name it was given; a watched one by its place in the folder.
            shown = (visit or {}).get("names", {}).get(str(job.id)) or (
                Path(job.name).name if visit_id else job.name
            )
            taken = time.localtime(job.created)
            return {
                "id": job.id,
                "when": readable_date(
                    time.strftime("%Y%m%d", taken), time.strftime("%H%M%S", taken)
                ),
                "origin": job.origin,
                "kind": Path(job.name).suffix.lower(),
                # A file name may name the patient: shown where the patient is.
                "file": shown if names else "",
                "series": f"series {_series_index(job) + 1}" if visit_id else "watched folder",
                "code": str(job.state),
                "state": state_in_words(job, now=now),
                # An error may quote the patient (a name in a file name, a worklist answer).
                "reason": _reason(job, shown, self.service.web.state)
                if names and job.error
                else "",
                "patient": who,
                "visit": f"/visit/{visit_id}" if visit is not None else "",
                "waiting": waits_to_retry(job, now=now),
            }

        return [row(job) for job in journal.stuck(now=now)], [
            row(job) for job in journal.recent(limit=200)
        ]

    async def retry(self, request: Request) -> Response:
        """Try a job waiting to retry again now (staff, from the History page)."""
        return await self._staff(
            request, self.service.journal.retry, "is tried again now", wake=True
        )

    async def cancel(self, request: Request) -> Response:
        """End a job waiting to retry as failed (staff): filed as any failure, never sent."""
        return await self._staff(
            request,
            functools.partial(self.service.worker.cancel, reason="cancelled by staff"),
            "is cancelled: it was not sent, and is filed as failed",
        )

    async def _staff(
        self, request: Request, act: Callable[[int], Job | None], done: str, *, wake: bool = False
    ) -> Response:
        """Do `act` to the job in the path, if it still waits to retry; say what came of it."""
        _, refused = await self._form(request)
        if refused is not None:
            return refused
        job_id = request.path_params["job"]
        acted = await run_in_threadpool(act, job_id)
        if acted is not None and wake:
            self.service.wake.set()
        request.session["history_note"] = (
            f"Job {job_id} {done}."
            if acted is not None
            else f"Job {job_id} was not waiting to retry (it is being sent, or it ended): "
            "nothing was changed."
        )
        return RedirectResponse("/history", status_code=303)

    async def login(self, request: Request) -> Response:
        if request.method == "GET":
            return self._render(request, "login.html")
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        sign_ins: SignIns = request.app.state.sign_ins
        client = request.client.host if request.client else ""
        # From the limit to the count nothing awaits: concurrent guesses are all counted.
        wait = sign_ins.wait(client)
        if wait:
            minutes = _count((wait + 59) // 60, "minute")
            response = self._render(
                request,
                "login.html",
                status=429,
                error=f"Too many wrong secrets: try again in {minutes}.",
            )
            response.headers["Retry-After"] = str(wait)
            return response
        if sign_in(request, self.service.web.secret, _form_value(form, "secret")):
            sign_ins.succeeded(client)
            return RedirectResponse("/", status_code=303)
        sign_ins.failed(client)
        await asyncio.sleep(1.0)  # a guess costs a second
        return self._render(request, "login.html", status=401, error="That is not the secret.")

    async def logout(self, request: Request) -> Response:
        _, refused = await self._form(request)
        if refused is not None:
            return refused
        sign_out(request)
        return RedirectResponse("/login", status_code=303)


def _typed(keyword: str, value: str) -> tuple[str, str, str]:
    """Return a typed value as DICOM holds it, as the page reads it back, and its problem."""
    reading = ""
    if keyword == "PatientBirthDate" and value:
        try:
            value, warning = birth_date(value)
        except DateNotUnderstood as exc:
            return value, "", str(exc)
        reading = f"{readable_date(value)}, {warning}" if warning else readable_date(value)
    elif keyword == "PatientSex" and value:
        value = typed_sex(value)
        if value not in _SEX_WORDS:
            return value, "", "Type female, male or other (or F, M, O); leave it empty if unknown"
        reading = _SEX_WORDS[value]
    elif keyword == "PatientName" and value:
        value = typed_name(value)
        reading = person_name(value)
    return value, reading, _problem(keyword, value)


def _problem(keyword: str, value: str) -> str:
    """Return why `value` cannot be `keyword`, or an empty string."""
    if not value:
        return ""
    from dicomize.dicom.vr import validate_attribute

    try:
        validate_attribute(keyword, value)
    except (MetadataError, ConfigError) as exc:
        return str(getattr(exc, "rule", "") or exc)
    return ""


def _from_worklist(item: Any) -> tuple[dict[str, Any], list[str]]:  # noqa: ANN401
    from dicomize.worklist import worklist_metadata

    found, notes = worklist_metadata(item)
    return dict(found), notes


def _settings_answer(
    request: Request, visit_id: str, problems: dict[str, str], count: int
) -> Response:
    """Answer a change of series settings: JSON to the page's script, the page to a form."""
    if "application/json" not in request.headers.get("accept", ""):
        if problems:
            text = "; ".join(f"{FIELD_LABELS.get(k, k)}: {p}" for k, p in problems.items())
            return PlainTextResponse(text, status_code=400)
        return RedirectResponse(f"/visit/{visit_id}", status_code=303)
    if problems:
        return JSONResponse({"problems": problems}, status_code=400)
    if count:
        saved = f"Saved: {_count(count, 'file')} of this series being converted again."
    else:
        saved = "Saved: the files added to this series will have it."
    return JSONResponse({"saved": saved})


def _series_index(job: Job) -> int:
    """Return the place on its visit of a web job's series (its batch is ``web/visit/N``)."""
    return int(job.batch.rsplit("/", 1)[1])


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


#: A file in one of these states was sent, or is on its way.
_ON_ITS_WAY = (JobState.CONVERTED, JobState.STORED, JobState.DONE)


def _sent_series(visit: dict[str, Any], placed: list[tuple[int, str]]) -> set[int]:
    """Return the series of `visit` that were sent: marked so, or with a file on its way.

    `placed` gives the series and state of each file; a visit saved before series
    were marked has only its files to tell.
    """
    marked = {index for index, settings in enumerate(visit["series"]) if settings.get("sent")}
    return marked | {index for index, state in placed if state in _ON_ITS_WAY}


def _sent_words(index: int) -> str:
    """Say, in the page's words, why a sent series' settings stay as they are."""
    return (
        f"Series {index + 1} was sent with these settings, so they can no longer change. "
        'For files with other settings, use "Add another series".'
    )


def _not_taken_slides(names: list[str]) -> str:
    """Say, in the page's words, that whole-slide images are not taken here, and where they go.

    >>> _not_taken_slides(["a.svs", "b.svs"])[:56]
    'a.svs, b.svs were not taken: they are whole-slide images'
    """
    were = "was" if len(names) == 1 else "were"
    what = "it is a whole-slide image" if len(names) == 1 else "they are whole-slide images"
    return (
        f"{', '.join(names)} {were} not taken: {what}, which this page does not take. "
        "Slides go through the scanner's watched folder (dicomize watch)."
    )


def _series_views(visit: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return each series of a visit as the page shows it: settings, kind, files, moves."""
    sent = _sent_series(visit, [(row["series"], row["state"]) for row in rows])
    # A series sent holds its kind, with files on the page or none left (retention).
    held = {row["series"] for row in rows} | sent
    views = []
    for index, settings in enumerate(visit["series"]):
        kind = series_kind(settings)
        targets = [
            (str(other), f"series {other + 1}")
            for other, those in enumerate(visit["series"])
            if other != index and (other not in held or series_kind(those) == kind)
        ]
        views.append(
            {
                "index": index,
                "number": index + 1,
                "settings": settings,
                "kind": kind,
                "heading": KIND_HEADINGS[kind] if index in held else "",
                "iods": iod_choices(kind),
                "sent": _sent_words(index) if index in sent else "",
                "rows": [row for row in rows if row["series"] == index],
                # Nothing chosen moves nothing: one careless tap makes no series.
                "targets": [("", "choose…"), *targets, ("new", "a new series")],
            }
        )
    return views


_LABELS = {
    JobState.NEW: "converting",
    JobState.HELD: "ready to send",
    JobState.CONVERTED: "sending",
    JobState.STORED: "stored",
    JobState.FAILED: "failed",
}


def _row(job: Job, shown: str, settings: dict[str, Any], state: Path) -> dict[str, Any]:
    """Return one file's card: its state in words, its object's attributes, what it can do."""
    committed = bool(job.statuses) and all(s == "committed" for s in job.statuses.values())
    status = ("committed" if committed else "stored") if job.state == JobState.DONE else ""
    status = status or _LABELS[job.state]
    if job.state == JobState.CONVERTED and job.attempts:
        status = f"waiting to retry (attempt {job.attempts + 1})"
    kind = series_kind(settings)
    noun = KIND_NOUNS[kind].split(" ", 1)[1]  # what the card calls it first: "PDF document"
    row: dict[str, Any] = {
        "id": job.id,
        "series": _series_index(job),
        "name": shown,
        "status": status,
        "state": str(job.state),
        "error": "",
        "note": "",
        # Where a failed file stopped: its object never made (convert), or never taken (send).
        "failed_at": ("send" if job.outputs else "convert") if job.state == JobState.FAILED else "",
        "committed": committed,
        "removable": job.state in (JobState.HELD, JobState.FAILED),
        "movable": job.state == JobState.HELD,
        "stamp": int(job.updated * 1000),
        "attributes": None,
        "what": noun[0].upper() + noun[1:],
    }
    if job.error:
        row["error"] = _reason(job, shown, state)
    elif job.state != JobState.FAILED:
        dropped = left_out_of(settings, kind, str(job.options.get("iod", "sc")))
        row["note"] = left_out(dropped, kind)
    if job.outputs and Path(job.outputs[0]).exists():
        row["attributes"] = _attributes(job.outputs[0], Path(job.outputs[0]).stat().st_mtime_ns)
    return row


def _reason(job: Job, shown: str, state: Path) -> str:
    """Return why `job` failed or waits, in the page's words, the file named `shown`.

    No path of the service's `state` (its spool, its uploads) is shown, nor a library's names.
    """
    stage = "convert" if not job.outputs else "send"
    if job.state == JobState.CONVERTED:
        stage = "retry"
    internal = [job.source, job.name, *job.outputs]
    return plain_error(job.error, shown=shown, internal=internal, stage=stage, private=[str(state)])


#: What each card shows of its object, in this order, in plain words.
CARD_KEYS = (
    "Patient",
    "Study",
    "Series number",
    "Series description",
    "Laterality",
    "Body part",
)
#: What the card keeps under Details: DICOM's own terms, and the validator's verdict.
DETAIL_KEYS = ("Modality", "IOD", "Transfer syntax", "Verdict")
_SIDES = {"R": "right", "L": "left", "B": "both", "U": "not paired"}


def _read_attributes(path: str, stamp: int) -> dict[str, Any]:  # noqa: ARG001  (a cache key)
    """Return what the card shows of one object, read from it, and dciodvfy's verdict (cached)."""
    from pydicom import dcmread
    from pydicom.uid import UID

    from dicomize.validate import validate_file

    ds = dcmread(path, stop_before_pixels=True)
    verdict = validate_file(path)
    if not verdict.iod_checked:
        judged = "dicomize's checks: " + ("no errors" if verdict.ok else verdict.first_error())
    elif verdict.ok:
        judged = f"dciodvfy: no errors, {len(verdict.warnings)} warnings"
    else:
        judged = f"dciodvfy: {verdict.first_error()}"
    carried = {
        keyword: str(ds.get(keyword, "") or "") for keyword in (*SERIES_FIELDS, "SeriesNumber")
    }
    side = carried["ImageLaterality"] or str(ds.get("Laterality", "") or "")
    study = (
        str(ds.get("StudyDescription", "") or ""),
        str(ds.get("AccessionNumber", "") or ""),
        readable_date(str(ds.get("StudyDate", "") or "")),
    )
    shown = {
        "Patient": f"{person_name(ds.get('PatientName', ''))} (ID {ds.get('PatientID', '')})",
        "Study": " · ".join(part for part in study if part),
        "Series number": carried["SeriesNumber"],
        "Series description": carried["SeriesDescription"],
        "Laterality": _SIDES.get(side, side),
        "Body part": carried["BodyPartExamined"],
        "Modality": str(ds.get("Modality", "") or ""),
        "IOD": UID(str(ds.SOPClassUID)).name,
        "Transfer syntax": UID(str(ds.file_meta.TransferSyntaxUID)).name,
        "Verdict": judged,
    }
    return {
        "shown": {key: value or "not recorded" for key, value in shown.items()},
        "ok": verdict.ok,
    }


def _render_thumbnail(path: str, stamp: int) -> bytes | None:  # noqa: ARG001  (a cache key)
    """Render a PNG of the object at `path`: its first frame or page, from the object itself."""
    from dicomize._extract import FileSpan, extract

    try:
        found = extract(path)
    except DicomizeError:
        return None
    if (
        isinstance(found.content, FileSpan)
        and sum(n for _, n in found.content.ranges) > _PREVIEW_VIDEO
    ):
        return None  # a long clip is not read into memory for a thumbnail
    image = _picture(found.suffix, found.data) or _decoded(path)
    if image is None:
        return None
    image.thumbnail((480, 480))
    buffer = io.BytesIO()
    _eight_bit(image).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def _eight_bit(image: Any) -> Any:  # noqa: ANN401  (a PIL image)
    """Stretch a 16-bit or float picture to 8 bits for the eye; Pillow's own conversion clips.

    A 16-bit fundus picture converted as it is shows white wherever a value is over 255.
    """
    if image.mode not in ("I;16", "I;16B", "I;16L", "I", "F"):
        return image
    import numpy as np
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    scaled = (values - low) * (255 / (high - low)) if high > low else values * 0
    return Image.fromarray(scaled.round().astype(np.uint8), "L")


def _picture(suffix: str, data: bytes) -> Any:  # noqa: ANN401  (a PIL image or None)
    from PIL import Image

    render: dict[str, Callable[[bytes], Any]] = {
        ".pdf": _pdf_page,
        **dict.fromkeys((".mp4", ".ts", ".mpg", ".m2v"), _video_frame),
    }
    if suffix in render:
        return render[suffix](data)
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, ValueError):
        return None
    return image


def _decoded(path: str) -> Any:  # noqa: ANN401  (a PIL image or None)
    """Decode the first frame with pydicom, for codestreams Pillow does not read (JPEG-LS)."""
    from PIL import Image
    from pydicom import dcmread

    try:
        ds = dcmread(path)
        pixels = ds.pixel_array
    except Exception:  # no pixels, or no decoder for them
        return None
    if int(ds.get("NumberOfFrames", 1) or 1) > 1:
        pixels = pixels[0]
    if pixels.dtype.itemsize > 1:
        pixels = (pixels >> max(int(ds.BitsStored) - 8, 0)).astype("uint8")
    return Image.fromarray(pixels)


def _pdf_page(data: bytes) -> Any:  # noqa: ANN401
    import pypdfium2

    document = pypdfium2.PdfDocument(data)
    try:
        return document[0].render(scale=1).to_pil()
    finally:
        document.close()


def _video_frame(data: bytes) -> Any:  # noqa: ANN401
    import av

    container = av.open(io.BytesIO(data), mode="r")
    try:
        for frame in container.decode(video=0):
            return frame.to_image()  # type: ignore[no-untyped-call]
    finally:
        container.close()
    return None


#: Kept while a visit is being worked on: names and pictures, never for the process' life.
_attributes = Recent(_read_attributes, seconds=_KEPT_FOR, size=512)
_thumbnail = Recent(_render_thumbnail, seconds=_KEPT_FOR, size=256)
