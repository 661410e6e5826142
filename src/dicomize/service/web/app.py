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
import logging
import os
import re
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from dicomize._record import field, record
from dicomize.errors import ConfigError, DicomizeError, MetadataError
from dicomize.options import SendOptions
from dicomize.service.journal import Job, JobState, Journal, state_in_words, waits_to_retry
from dicomize.service.web.security import (
    Envelope,
    Guard,
    csrf_token,
    require_csrf,
    sign_in,
    signed_in,
)
from dicomize.service.web.uploads import UploadRefused, receive_files
from dicomize.service.worker import ServiceSettings, Worker

__all__ = ["WebSettings", "create_app"]

logger = logging.getLogger(__name__)

_HERE = Path(__file__).parent
#: What a person types when there is no worklist, checked with the command line's rules.
PATIENT_FIELDS = (
    ("PatientID", "Patient ID", True),
    ("PatientName", "Name (Family^Given)", False),
    ("PatientBirthDate", "Birth date (YYYYMMDD)", False),
    ("PatientSex", "Sex (M, F or O)", False),
    ("AccessionNumber", "Accession number", False),
    ("StudyDescription", "Study description", False),
)
#: What the page sets per series.
SERIES_FIELDS = ("SeriesDescription", "Laterality", "BodyPartExamined")
SERIES_IODS = (("sc", "Secondary Capture"), ("vl-photo", "VL Photographic"))
_VISIT = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: The longest video stream read into memory for its preview frame.
_PREVIEW_VIDEO = 512 << 20
#: Worklist answers kept for the person to choose from, by token.
_FOUND_FOR = 15 * 60.0


@record()
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
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.worker.recover()
        self._thread = threading.Thread(target=self._work, name="dicomize-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.worker.stopping.set()
        self.wake.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        self.journal.close()

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
    """An upload is deleted once its job ends; its folder goes when empty."""

    def __init__(self, service: _Service) -> None:
        self.service = service

    def destination(self, job: Job, error: str | None) -> Path | None:  # noqa: ARG002
        return None

    def filed(self, job: Job, destination: Path | None, error: str | None) -> None:  # noqa: ARG002
        folder = Path(job.source).parent
        with contextlib.suppress(OSError):  # not empty yet: another file of the visit
            folder.rmdir()


def create_app(web: WebSettings, settings: ServiceSettings) -> Starlette:
    """Return the ASGI application of ``dicomize serve``.

    Parameters
    ----------
    web : WebSettings
        Where its state lives, sign-in, worklist and upload limits.
    settings : ServiceSettings
        What is done with each file, as for ``watch``.
    """
    service = _Service(web, settings)
    templates = Jinja2Templates(directory=str(_HERE / "templates"))
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
        Route("/visit/{visit}/send", pages.send, methods=["POST"]),
        Route("/visit/{visit}/preview/{job:int}", pages.preview, methods=["GET"]),
        Route("/history", pages.history, methods=["GET"]),
        Route("/history/{job:int}/retry", pages.retry, methods=["POST"]),
        Route("/history/{job:int}/cancel", pages.cancel, methods=["POST"]),
        Route("/login", pages.login, methods=["GET", "POST"]),
        Mount("/static", StaticFiles(directory=str(_HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(Envelope),
        Middleware(
            SessionMiddleware,
            secret_key=secrets.token_urlsafe(32),
            session_cookie="dicomize_session",
            same_site="strict",
            https_only=web.https,
        ),
        Middleware(Guard, secret=web.secret),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.service = service
    return app


def _form_value(form: Any, name: str) -> str:  # noqa: ANN401  (Starlette's FormData)
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


class _Pages:
    """The request handlers; each page is rendered on the server."""

    def __init__(self, service: _Service, templates: Jinja2Templates) -> None:
        self.service = service
        self.templates = templates

    def _render(self, request: Request, name: str, status: int = 200, **context: Any) -> Response:  # noqa: ANN401
        context.update(
            csrf=csrf_token(request),
            signed_in=signed_in(request),
            needs_sign_in=bool(self.service.web.secret),
            worklist=self.service.web.worklist,
            sends_to=self.service.settings.send,
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
        except DicomizeError as exc:
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
        found = [(self.service.remember(item), item.summary(names=True)) for item in items]
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
        from dicomize.worklist import WorklistQuery, query_worklist  # noqa: PLC0415

        name = keys["name"]
        if name and not name.endswith("*"):
            name += "*"  # a name typed is the start of one
        query = WorklistQuery(
            accession=keys["accession"] or None,
            patient_name=name or None,
            scheduled=keys["date"] or ("today" if not (keys["accession"] or name) else None),
        )
        assert self.service.web.worklist is not None  # noqa: S101  (checked by the caller)
        return query_worklist(self.service.web.worklist, query, self.service.web.worklist_options)

    async def check(self, request: Request) -> Response:
        """Check one typed value with the command line's rules (called as the user types)."""
        refused = require_csrf(request, request.headers.get("x-csrf-token"))
        if refused is not None:
            return refused
        body = await request.json()
        keyword, value = str(body.get("keyword", "")), str(body.get("value", ""))
        allowed = {name for name, _, _ in PATIENT_FIELDS} | set(SERIES_FIELDS)
        if keyword not in allowed:
            return JSONResponse({"error": "not a field of this page"}, status_code=400)
        return JSONResponse({"error": _problem(keyword, value)})

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
            values = {name: _form_value(form, name) for name, _, _ in PATIENT_FIELDS}
            errors = {
                name: problem
                for name, value in values.items()
                if (problem := _problem(name, value))
            }
            if not values["PatientID"]:
                errors["PatientID"] = "a Patient ID is needed: the objects must find their patient"
            if errors:
                return self._render(
                    request,
                    "home.html",
                    status=400,
                    fields=PATIENT_FIELDS,
                    values=values,
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
            {"patient": patient, "summary": summary, "series": [_new_series()]},
        )
        return RedirectResponse(f"/visit/{visit}", status_code=303)

    # -- steps 2-4: files, checks, sending ----------------------------------------------------

    def _visit(self, visit: str) -> dict[str, Any] | None:
        return self.service.journal.visit(visit) if _VISIT.match(visit) else None

    async def visit(self, request: Request) -> Response:
        visit_id = request.path_params["visit"]
        visit = self._visit(visit_id)
        if visit is None:
            return PlainTextResponse("No such visit.", status_code=404)
        rows = await run_in_threadpool(self._rows, visit_id)
        return self._render(
            request,
            "visit.html",
            visit_id=visit_id,
            visit=visit,
            rows=rows,
            iods=SERIES_IODS,
            max_files=self.service.web.max_files,
            max_upload=self.service.web.max_upload,
        )

    async def files(self, request: Request) -> Response:
        visit_id = request.path_params["visit"]
        if self._visit(visit_id) is None:
            return PlainTextResponse("No such visit.", status_code=404)
        rows = await run_in_threadpool(self._rows, visit_id)
        return self._render(request, "files.html", visit_id=visit_id, rows=rows)

    def _rows(self, visit_id: str) -> list[dict[str, Any]]:
        return [_row(job) for job in self.service.journal.batch_prefix(f"web/{visit_id}/")]

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
            settings = visit["series"][series]
        except (ValueError, IndexError):
            return JSONResponse({"error": "No such series."}, status_code=400)
        folder = self.service.uploads / visit_id
        try:
            received = await receive_files(
                request,
                folder,
                max_bytes=self.service.web.max_upload,
                max_files=self.service.web.max_files,
            )
        except UploadRefused as exc:
            return JSONResponse({"error": str(exc)}, status_code=exc.status)
        taken = await run_in_threadpool(self._take, visit_id, visit, series, settings, received)
        self.service.wake.set()
        return JSONResponse({"jobs": taken})

    def _take(
        self,
        visit_id: str,
        visit: dict[str, Any],
        series: int,
        settings: dict[str, Any],
        received: list[tuple[str, Path]],
    ) -> list[int]:
        from dicomize.service.worker import file_digest  # noqa: PLC0415

        taken = []
        for name, path in received:
            stat = path.stat()
            job = self.service.journal.add(
                origin="web",
                batch=f"web/{visit_id}/{series}",
                source=str(path),
                name=f"{visit_id}/{series}/{name}",
                size=stat.st_size,
                mtime_ns=stat.st_mtime_ns,
                digest=file_digest(path),
                metadata=_job_metadata(visit, settings),
                options={"iod": settings["iod"]},
            )
            taken.append(job.id)
        return taken

    async def series(self, request: Request) -> Response:
        """Add a series, or change one: its held files are converted again with the new values."""
        visit_id = request.path_params["visit"]
        visit = self._visit(visit_id)
        if visit is None:
            return PlainTextResponse("No such visit.", status_code=404)
        form, refused = await self._form(request)
        if refused is not None:
            return refused
        if _form_value(form, "action") == "add":
            visit["series"].append(_new_series())
            self.service.journal.save_visit(visit_id, visit)
            return RedirectResponse(f"/visit/{visit_id}", status_code=303)
        try:
            index = int(_form_value(form, "index"))
            current = visit["series"][index]
        except (ValueError, IndexError):
            return PlainTextResponse("No such series.", status_code=400)
        changed = {name: _form_value(form, name) for name in SERIES_FIELDS}
        problems = [
            f"{name}: {problem}"
            for name, value in changed.items()
            if (problem := _problem(name, value))
        ]
        iod = _form_value(form, "iod")
        if iod not in dict(SERIES_IODS):
            problems.append(f"iod: choose one of {', '.join(dict(SERIES_IODS))}")
        if problems:
            return PlainTextResponse("; ".join(problems), status_code=400)
        current.update(changed, iod=iod)
        self.service.journal.save_visit(visit_id, visit)
        await run_in_threadpool(self._reconvert, visit_id, visit, index)
        self.service.wake.set()
        return RedirectResponse(f"/visit/{visit_id}", status_code=303)

    def _reconvert(self, visit_id: str, visit: dict[str, Any], index: int) -> None:
        settings = visit["series"][index]
        for job in self.service.journal.batch(f"web/{visit_id}/{index}"):
            if job.state not in (JobState.HELD, JobState.NEW):
                continue  # already on its way: it stays as it was sent
            for output in job.outputs:
                Path(output).unlink(missing_ok=True)
            self.service.journal.update(
                job.id,
                state=JobState.NEW,
                metadata=_job_metadata(visit, settings),
                options={"iod": settings["iod"]},
                outputs=[],
                next_try=0.0,
            )

    async def send(self, request: Request) -> Response:
        visit_id = request.path_params["visit"]
        if self._visit(visit_id) is None:
            return PlainTextResponse("No such visit.", status_code=404)
        _, refused = await self._form(request)
        if refused is not None:
            return refused
        state = JobState.CONVERTED if self.service.settings.send else JobState.STORED
        for job in self.service.journal.batch_prefix(f"web/{visit_id}/"):
            if job.state == JobState.HELD:
                self.service.journal.update(job.id, state=state, next_try=0.0)
        self.service.wake.set()
        return RedirectResponse(f"/visit/{visit_id}", status_code=303)

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
        png = await run_in_threadpool(_thumbnail, str(output), stamp)
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
                who = f"{name} ({number})" if name else number
            return {
                "id": job.id,
                "when": time.strftime("%Y-%m-%d %H:%M", time.localtime(job.created)),
                "origin": job.origin,
                "kind": Path(job.name).suffix.lower(),
                "code": str(job.state),
                "state": state_in_words(job, now=now),
                # An error may quote the patient (a name in a file name, a worklist answer).
                "reason": job.error if names else "",
                "patient": who,
                "visit": f"/visit/{visit_id}" if visit is not None else "",
                "waiting": waits_to_retry(job, now=now),
            }

        return [row(job) for job in journal.stuck(now=now)], [
            row(job) for job in journal.recent(limit=200)
        ]

    async def retry(self, request: Request) -> Response:
        """Try a job waiting to retry again now (staff, from the History page)."""
        _, refused = await self._form(request)
        if refused is not None:
            return refused
        job_id = request.path_params["job"]
        retried = await run_in_threadpool(self.service.journal.retry, job_id)
        if retried is not None:
            self.service.wake.set()
        request.session["history_note"] = (
            f"Job {job_id} is tried again now."
            if retried is not None
            else f"Job {job_id} was not waiting to retry (it is being sent, or it ended): "
            "nothing was changed."
        )
        return RedirectResponse("/history", status_code=303)

    async def cancel(self, request: Request) -> Response:
        """End a job waiting to retry as failed (staff): filed as any failure, never sent."""
        _, refused = await self._form(request)
        if refused is not None:
            return refused
        job_id = request.path_params["job"]
        cancelled = await run_in_threadpool(
            self.service.worker.cancel, job_id, "cancelled by staff"
        )
        request.session["history_note"] = (
            f"Job {job_id} is cancelled: it was not sent, and is filed as failed."
            if cancelled is not None
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
        if sign_in(request, self.service.web.secret, _form_value(form, "secret")):
            return RedirectResponse("/", status_code=303)
        await asyncio.sleep(1.0)  # a guess costs a second
        return self._render(request, "login.html", status=401, error="That is not the secret.")


def _new_series() -> dict[str, Any]:
    return {"SeriesDescription": "", "Laterality": "", "BodyPartExamined": "", "iod": "sc"}


def _job_metadata(visit: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    values = {name: settings[name] for name in SERIES_FIELDS if settings.get(name)}
    return {**visit["patient"], **values}


def _problem(keyword: str, value: str) -> str:
    """Return why `value` cannot be `keyword`, or an empty string."""
    if not value:
        return ""
    from dicomize._vr import validate_attribute  # noqa: PLC0415

    try:
        validate_attribute(keyword, value)
    except (MetadataError, ConfigError) as exc:
        return str(getattr(exc, "rule", "") or exc)
    return ""


def _from_worklist(item: Any) -> tuple[dict[str, Any], list[str]]:  # noqa: ANN401
    from dicomize.worklist import worklist_metadata  # noqa: PLC0415

    found, notes = worklist_metadata(item)
    return dict(found), notes


def _row(job: Job) -> dict[str, Any]:
    labels = {
        JobState.NEW: "converting",
        JobState.HELD: "ready to send",
        JobState.CONVERTED: "sending",
        JobState.STORED: "stored",
        JobState.DONE: "committed" if "committed" in job.statuses.values() else "stored",
        JobState.FAILED: "failed",
    }
    status = labels[job.state]
    if job.state == JobState.CONVERTED and job.attempts:
        status = f"waiting to retry (attempt {job.attempts + 1})"
    row: dict[str, Any] = {
        "id": job.id,
        "name": Path(job.name).name,
        "status": status,
        "state": str(job.state),
        "error": job.error,
        "stamp": int(job.updated * 1000),
        "attributes": None,
    }
    if job.outputs and Path(job.outputs[0]).exists():
        row["attributes"] = _attributes(job.outputs[0], Path(job.outputs[0]).stat().st_mtime_ns)
    return row


@functools.lru_cache(maxsize=512)
def _attributes(path: str, stamp: int) -> dict[str, str]:  # noqa: ARG001  (a cache key)
    """Return the attributes that matter and dciodvfy's verdict of one object (cached)."""
    from pydicom import dcmread  # noqa: PLC0415
    from pydicom.uid import UID  # noqa: PLC0415

    from dicomize.validate import validate_file  # noqa: PLC0415

    ds = dcmread(path, stop_before_pixels=True)
    verdict = validate_file(path)
    if not verdict.iod_checked:
        judged = "dicomize's checks: " + ("no errors" if verdict.ok else verdict.first_error())
    elif verdict.ok:
        judged = f"dciodvfy: no errors, {len(verdict.warnings)} warnings"
    else:
        judged = f"dciodvfy: {verdict.first_error()}"
    return {
        "Patient": f"{ds.get('PatientName', '')} ({ds.get('PatientID', '')})",
        "Study": f"{ds.get('StudyDescription', '') or ''} {ds.get('AccessionNumber', '')}".strip(),
        "Series": f"{ds.get('SeriesNumber', '')} {ds.get('SeriesDescription', '') or ''}".strip(),
        "IOD": UID(str(ds.SOPClassUID)).name,
        "Transfer syntax": UID(str(ds.file_meta.TransferSyntaxUID)).name,
        "Verdict": judged,
        "ok": "yes" if verdict.ok else "no",
    }


@functools.lru_cache(maxsize=256)
def _thumbnail(path: str, stamp: int) -> bytes | None:  # noqa: ARG001  (a cache key)
    """Render a PNG of the object at `path`: its first frame or page, from the object itself."""
    from dicomize._extract import extract  # noqa: PLC0415

    try:
        found = extract(path)
    except DicomizeError:
        return None
    if (
        not isinstance(found.content, bytes)
        and sum(n for _, n in found.content.ranges) > _PREVIEW_VIDEO
    ):
        return None  # a long clip is not read into memory for a thumbnail
    image = _picture(found.suffix, found.data) or _decoded(path)
    if image is None:
        return None
    image.thumbnail((480, 480))
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def _picture(suffix: str, data: bytes) -> Any:  # noqa: ANN401  (a PIL image or None)
    from PIL import Image  # noqa: PLC0415

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
    from PIL import Image  # noqa: PLC0415
    from pydicom import dcmread  # noqa: PLC0415

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
    import pypdfium2  # noqa: PLC0415

    document = pypdfium2.PdfDocument(data)
    try:
        return document[0].render(scale=1).to_pil()
    finally:
        document.close()


def _video_frame(data: bytes) -> Any:  # noqa: ANN401
    import av  # noqa: PLC0415

    container = av.open(io.BytesIO(data), mode="r")
    try:
        for frame in container.decode(video=0):
            return frame.to_image()  # type: ignore[no-untyped-call]
    finally:
        container.close()
    return None
