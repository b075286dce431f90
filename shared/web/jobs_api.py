"""Handlers of the /v1/jobs routes: list, read, cancel, delete, and what a run produced."""

from __future__ import annotations

import contextvars
import csv
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import flask

from shared import bootstrap
from shared.config import settings
from shared.domain.config_schema import IDENTIFIER
from shared.domain.job import Job, JobState
from shared.domain.paging import InvalidCursor
from shared.services import results
from shared.services.cancel import cancel_job
from shared.services.delete import DeleteDeps, NeedsConfirmation, StillActive, delete_job
from shared.services.queries import MAX_LIST, get_job, list_jobs
from shared.web.routing import ApiError, Call
from shared.web.views import artifact_view, job_view, log_view

_STATES = {s.value for s in JobState}
# GET /v1/jobs/{id}?include=log,artifacts: what the job page shows besides the job, in the same answer, so the page
# costs one request and one read of the job instead of three of each. Each part is exactly what its own route answers
# (/logs, /artifacts), or null where the job has none (yet). The parts are produced side by side on these threads.
INCLUDES = ("log", "artifacts")
_PARTS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="job-parts")


def _job(call: Call) -> Job:
    """The job named in the path, if the caller may see it (queries.NotFound otherwise, answered as 404)."""
    return get_job(bootstrap.jobs(), call.user, call.params["job_id"], is_admin=bootstrap.quotas().is_admin)


def _planned_stages(job: Job) -> tuple[str, ...]:
    """The stage names of the job's flow plan (plans are pure, so this costs no I/O)."""
    runner = bootstrap.runners().get(job.flow or "")
    if runner is None or job.design is None:
        return ()
    return tuple(stage.name for stage in runner.plan(job.design, job.resources).stages)


def _view(job: Job, call: Call) -> dict[str, object]:
    return job_view(job, call.base_url, _planned_stages(job))


def list_my_jobs(call: Call) -> flask.Response:
    wanted = [s.strip().upper() for s in call.args.get("state", "").split(",") if s.strip()]
    unknown = [s for s in wanted if s not in _STATES]
    if unknown:
        raise ApiError(400, "invalid_parameter", f"unknown state {unknown[0]!r}; states: {', '.join(sorted(_STATES))}")
    limit = call.arg_int("limit", 50, 1, MAX_LIST)
    design = call.args.get("design")
    if design is not None and not IDENTIFIER.fullmatch(design):
        raise ApiError(
            400,
            "invalid_parameter",
            "design must be a design's name (its DESIGN_NAME): letters, digits and _, starting with a letter or _",
        )
    try:
        page = list_jobs(
            bootstrap.jobs(),
            call.user,
            limit,
            [JobState(s) for s in wanted],
            call.args.get("cursor") or None,
            design=design,
        )
    except InvalidCursor as exc:
        raise ApiError(400, "invalid_cursor", str(exc)) from exc
    return flask.jsonify(jobs=[_view(j, call) for j in page.jobs], next_cursor=page.next_cursor)


def get_one_job(call: Call) -> flask.Response:
    wanted = _includes(call)
    lines = call.arg_int("lines", 100, 1, results.MAX_LOG_LINES) if "log" in wanted else 0
    job = _job(call)
    view = _view(job, call)
    if wanted:
        view |= _included(job, view["links"], wanted, lines, call)
    return flask.jsonify(view)


def _includes(call: Call) -> set[str]:
    wanted = {part.strip() for part in call.args.get("include", "").split(",") if part.strip()}
    unknown = sorted(wanted - set(INCLUDES))
    if unknown:
        raise ApiError(
            400, "invalid_parameter", f"include takes {', '.join(INCLUDES)} (comma-separated), not {unknown[0]!r}"
        )
    return wanted


def _included(job: Job, links: dict[str, str], wanted: set[str], lines: int, call: Call) -> dict[str, Any]:
    """The log tail (where the job has links.logs) and the run's files (links.artifacts: once it has ended)."""
    store, bucket = bootstrap.results_store(), settings().results_bucket
    tasks: dict[str, Callable[[], Any]] = {}
    if "log" in wanted and "logs" in links:
        tasks["log"] = lambda: log_view(job, results.log_tail(store, bucket, job, lines))
    if "artifacts" in wanted and "artifacts" in links:
        tasks["artifacts"] = lambda: _artifacts(job, call)
    # Each part on its own thread, in a copy of this request's context (its trace, for the log lines).
    running = {name: _PARTS.submit(contextvars.copy_context().run, task) for name, task in tasks.items()}
    parts: dict[str, Any] = dict.fromkeys(wanted)
    for name, future in running.items():
        try:
            parts[name] = future.result()
        except results.NoResults:
            parts[name] = None  # e.g. a finished run that left no log: its route answers 404
    return parts


def cancel_one_job(call: Call) -> flask.Response:
    result = cancel_job(bootstrap.cancel_deps(), call.user, call.params["job_id"], lambda: call.now)
    return flask.jsonify(job_id=result.job_id, state=result.state, message=result.message)


def delete_one_job(call: Call) -> flask.Response:
    job = _job(call)
    deps = DeleteDeps(bootstrap.jobs(), bootstrap.results_store(), settings().results_bucket)
    try:
        deleted = delete_job(deps, job, call.args.get("confirm"), call.user)
    except NeedsConfirmation as exc:
        raise ApiError(400, "confirmation_required", str(exc)) from exc
    except StillActive as exc:
        raise ApiError(409, "job_active", str(exc)) from exc
    return flask.jsonify(job_id=deleted.job_id, deleted=True, objects_removed=deleted.objects_removed)


def list_job_artifacts(call: Call) -> flask.Response:
    job = _job(call)
    return flask.jsonify(job_id=job.id, artifacts=_artifacts(job, call))


def _artifacts(job: Job, call: Call) -> list[dict[str, Any]]:
    found = results.list_artifacts(bootstrap.results_store(), settings().results_bucket, job, call.now)
    return [artifact_view(a) for a in found]


def download_job(call: Call) -> flask.Response:
    job = _job(call)
    store, bucket = bootstrap.results_store(), settings().results_bucket
    wanted = call.args.get("path")
    if wanted:
        return flask.redirect(results.artifact_link(store, bucket, job, wanted), code=302)
    chunks = results.stream_archive(store, bucket, job)
    response = flask.Response(flask.stream_with_context(chunks), mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{results.archive_name(job)}"'
    return response


def job_layout_image(call: Call) -> flask.Response:
    job = _job(call)
    kind = "layout_thumb_png" if call.args.get("size") == "thumb" else "layout_png"
    uri = job.artifacts.get(kind)
    if not uri or not job.results_prefix or job.results_prefix not in uri:
        raise ApiError(404, "no_layout", f"job {job.id} has no layout image ({job.state.value})")
    path = uri[uri.index(job.results_prefix) + len(job.results_prefix) :]
    link = results.artifact_link(bootstrap.results_store(), settings().results_bucket, job, path)
    return flask.redirect(link, code=302)


def job_log_tail(call: Call) -> flask.Response:
    job = _job(call)
    lines = call.arg_int("lines", 100, 1, results.MAX_LOG_LINES)
    tail = results.log_tail(bootstrap.results_store(), settings().results_bucket, job, lines)
    return flask.jsonify(log_view(job, tail))


def job_metrics(call: Call) -> flask.Response:
    job = _job(call)
    metrics = job.metrics.to_dict() if job.metrics else {}
    if call.args.get("format") == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["metric", "value"])
        writer.writerows(sorted(metrics.items()))
        response = flask.Response(out.getvalue(), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="{job.id}-metrics.csv"'
        return response
    return flask.jsonify(job_id=job.id, state=job.state.value, metrics=metrics)
