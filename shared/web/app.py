"""The HTTP API and status pages: the route table, sign-in, and turning failures into the one error format."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import flask

from shared import bootstrap
from shared.adapters.identity import Unauthenticated
from shared.config import settings
from shared.domain.webhooks import MAX_HOOK_BODY_BYTES
from shared.services.queries import NotFound
from shared.services.quota_admin import Forbidden
from shared.services.results import NoResults
from shared.structured_log import fields, get, set_trace_from_headers
from shared.web import account_api, compare_api, jobs_api, openapi, pages, public_api, repos_api, submit_api
from shared.web.routing import PARAMETER_PATTERNS, ApiError, Call, QueryParam, Route, find_route

log = get(__name__)
_STATE_FILTER = QueryParam(
    "state", "Only jobs in these states, comma-separated (e.g. QUEUED,RUNNING).", {"type": "string"}
)
_LIMIT = QueryParam("limit", "Most jobs in one page (1-500, default 50).", {"type": "integer", "minimum": 1})
_CURSOR = QueryParam("cursor", "`next_cursor` of the previous page.", {"type": "string"})
_DESIGN_FILTER = QueryParam(
    "design",
    "Only runs of this design (its DESIGN_NAME): the design's history.",
    {"type": "string", "pattern": f"^{PARAMETER_PATTERNS['design_name']}$"},
)


def openapi_document(_call: Call) -> flask.Response:
    """The API's own description, built from the route table below (which handlers never import)."""
    return flask.jsonify(openapi.document(ROUTES))


ROUTES: tuple[Route, ...] = (
    # ------------------------------------------------------------------------------------------------- jobs
    Route(
        "GET",
        "/v1/jobs",
        jobs_api.list_my_jobs,
        "caller",
        "List my jobs, newest first",
        "JobList",
        query=(_STATE_FILTER, _LIMIT, _CURSOR, _DESIGN_FILTER),
        errors=(400,),
    ),
    Route(
        "POST",
        "/v1/jobs",
        submit_api.submit_from_git,
        "caller",
        "Submit a design from a git repository (fetched in the background; the job starts FETCHING)",
        "GitSubmission",
        status=202,
        request_body="GitSubmitRequest",
        errors=(400,),
    ),
    Route(
        "POST",
        "/v1/jobs/{job_id}/rerun",
        submit_api.rerun_one_job,
        "job",
        "Run a job again from the same source, with some settings changed",
        "RerunTicket",
        status=201,
        request_body="RerunRequest",
        errors=(400, 409),
    ),
    Route(
        "GET",
        "/v1/jobs/{job_id}",
        jobs_api.get_one_job,
        "job",
        "One job: state, stage, timeline, metrics (and, with ?include=, its log tail and files in the same answer)",
        "Job",
        query=(
            QueryParam(
                "include",
                "Also answer `log` (as /logs answers it; null without a log) and `artifacts` (as /artifacts lists "
                "them; null until the job has ended with results), comma-separated.",
                {"type": "string", "pattern": f"^({'|'.join(jobs_api.INCLUDES)})(,({'|'.join(jobs_api.INCLUDES)}))*$"},
            ),
            QueryParam(
                "lines", "With include=log: how many lines (1-500, default 100).", {"type": "integer", "minimum": 1}
            ),
        ),
        errors=(400,),
    ),
    Route("POST", "/v1/jobs/{job_id}/cancel", jobs_api.cancel_one_job, "job", "Cancel a job", "CancelResult"),
    Route(
        "DELETE",
        "/v1/jobs/{job_id}",
        jobs_api.delete_one_job,
        "job",
        "Delete a finished job and its results (the upload stays)",
        "Deleted",
        query=(QueryParam("confirm", "The job id again, to confirm.", {"type": "string"}),),
        errors=(400, 409),
    ),
    Route(
        "GET",
        "/v1/jobs/{job_id}/artifacts",
        jobs_api.list_job_artifacts,
        "job",
        "The run's files, with links valid for 15 minutes",
        "ArtifactList",
    ),
    Route(
        "GET",
        "/v1/jobs/{job_id}/download",
        jobs_api.download_job,
        "job",
        "The whole run as one ZIP, or one file (?path=) by redirect",
        "application/zip",
        query=(QueryParam("path", "One file of the run (as listed by /artifacts).", {"type": "string"}),),
    ),
    Route(
        "GET",
        "/v1/jobs/{job_id}/logs",
        jobs_api.job_log_tail,
        "job",
        "The end of the run's log (live while it runs)",
        "LogTail",
        query=(QueryParam("lines", "How many lines (1-500, default 100).", {"type": "integer", "minimum": 1}),),
        errors=(400,),
    ),
    Route(
        "GET",
        "/v1/jobs/{job_id}/metrics",
        jobs_api.job_metrics,
        "job",
        "The run's metrics (JSON, or ?format=csv)",
        "JobMetrics",
        query=(QueryParam("format", "`json` (default) or `csv`.", {"type": "string", "enum": ["json", "csv"]}),),
    ),
    Route(
        "GET",
        "/v1/jobs/{job_id}/layout.png",
        jobs_api.job_layout_image,
        "job",
        "The layout render (redirect to the PNG; ?size=thumb for the thumbnail)",
        "image/png",
        status=302,
        query=(QueryParam("size", "`full` (default) or `thumb`.", {"type": "string", "enum": ["full", "thumb"]}),),
    ),
    Route(
        "GET",
        "/v1/compare",
        compare_api.compare_jobs,
        "caller",
        "Compare 2 to 10 of my jobs or sweep runs side by side: every metric, the first as the reference, each other "
        "figure with its difference and whether it is better or worse (JSON, or ?format=csv)",
        "Comparison",
        query=(
            QueryParam(
                "jobs",
                "Comma-separated JOB or JOB:RUN (run RUN of a sweep job), 2 to 10, the first as the reference.",
                {"type": "string", "pattern": r"^j[0-9a-f]{19}(:[0-9]{1,6})?(,j[0-9a-f]{19}(:[0-9]{1,6})?){1,9}$"},
            ),
            QueryParam("format", "`json` (default) or `csv`.", {"type": "string", "enum": ["json", "csv"]}),
        ),
        errors=(400,),
    ),
    # ---------------------------------------------------------------------------------------------- account
    Route(
        "POST",
        "/v1/uploads",
        account_api.create_upload,
        "caller",
        "Get a signed URL to upload a design archive (then PUT the file there)",
        "UploadTicket",
        status=201,
        request_body="UploadRequest",
        errors=(400,),
    ),
    Route("GET", "/v1/quota", account_api.my_quota, "caller", "My quota and this month's usage", "Quota"),
    Route("GET", "/v1/quotas/{user}", account_api.users_quota, "user", "A user's quota (admins: anyone's)", "Quota"),
    Route(
        "PUT",
        "/v1/quotas/{user}",
        account_api.change_quota,
        "admin",
        "Change a user's quota, or the defaults (user `_defaults`)",
        "Quota",
        request_body="QuotaChange",
        errors=(400,),
    ),
    # ----------------------------------------------------------------------------------------- repositories
    Route(
        "POST",
        "/v1/repos",
        repos_api.add_repo,
        "caller",
        "Register a repository: every push to its branch runs the design (answers the webhook's URL and secret)",
        "RepoRegistered",
        status=201,
        request_body="RepoRequest",
        errors=(400, 409),
    ),
    Route("GET", "/v1/repos", repos_api.my_repos, "caller", "My registered repositories (no secrets)", "RepoList"),
    Route(
        "DELETE",
        "/v1/repos/{repo_id}",
        repos_api.delete_repo,
        "caller",
        "Remove one of my repository registrations (its pushes start nothing any more)",
        "RepoRemoved",
    ),
    Route(
        "POST",
        repos_api.HOOK_PATH,
        repos_api.git_push_hook,
        "public",  # no sign-in: each delivery is authenticated by its signature (X-Hub-Signature-256)
        "Push webhook (GitHub style; X-GitHub-Event, X-GitHub-Delivery, X-Hub-Signature-256 with the registration's "
        "secret): 202 when a push starts jobs or is ignored, 200 for ping and for a delivery already received",
        "GitHookResult",
        request_body="GitPushEvent",
        errors=(400, 401, 413),
        max_body_bytes=MAX_HOOK_BODY_BYTES,
    ),
    # ----------------------------------------------------------------------------------------------- public
    Route("GET", "/v1/queue", public_api.queue, "public", "How busy the queue is (no personal data)", "QueueOverview"),
    Route("GET", "/v1/openapi.json", openapi_document, "public", "This API's OpenAPI 3 document"),
    # ------------------------------------------------------------------------------------------------ pages
    Route("GET", "/", pages.my_jobs_page, "public", "Status page: my jobs", "text/html", in_api_document=False),
    Route(
        "GET", "/jobs/{job_id}", pages.job_page, "public", "Status page: one job", "text/html", in_api_document=False
    ),
    Route(
        "GET",
        "/designs/{design_name}",
        pages.design_page,
        "public",
        "Status page: a design's runs",
        "text/html",
        in_api_document=False,
    ),
    Route("GET", "/queue", pages.queue_page, "public", "Status page: the queue", "text/html", in_api_document=False),
    Route(
        "GET",
        "/compare",
        pages.compare_page,
        "public",
        "Status page: jobs and sweep runs side by side (?jobs=)",
        "text/html",
        in_api_document=False,
    ),
    Route("GET", "/assets/{asset}", pages.asset, "public", "Page assets", "text/plain", in_api_document=False),
)


def base_url(request: flask.Request) -> str:
    configured = settings().status_base_url
    return configured.rstrip("/") if configured else request.host_url.rstrip("/")


def handle(request: flask.Request) -> flask.Response:  # noqa: PLR0911 - each route outcome (asset, page, API, errors) is one reply
    set_trace_from_headers(request.headers, settings().project_id)
    try:
        route, params = find_route(ROUTES, request.method, request.path)
        caller = None if route.access == "public" else bootstrap.identity().caller(request.headers)
        raw = _raw_body(request, route)
        now = datetime.now(UTC)
        call = Call(caller, params, request.args, _json(raw), now, base_url(request), request.headers, raw)
        response = route.handler(call)
        if response.status_code == 200 and route.status != 200:
            response.status_code = route.status
        return response
    except Unauthenticated as exc:
        return ApiError(401, "unauthenticated", str(exc)).response()
    except NotFound as exc:
        return ApiError(404, "not_found", f"you have no job {exc.args[0] if exc.args else ''}").response()
    except Forbidden as exc:
        return ApiError(403, "forbidden", str(exc)).response()
    except NoResults as exc:
        return ApiError(404, "no_results", str(exc)).response()
    except ApiError as exc:
        return exc.response()
    except Exception:
        log.exception("the API failed", extra=fields(path=request.path, method=request.method))
        return ApiError(500, "internal", "something went wrong on our side; it has been logged").response()


def _raw_body(request: flask.Request, route: Route) -> bytes:
    """The body's bytes on routes that take one (b"" on the others, which never read it)."""
    if route.request_body is None:
        return b""
    too_large = ApiError(413, "body_too_large", f"the request body is larger than {route.max_body_bytes >> 10} KiB")
    if (request.content_length or 0) > route.max_body_bytes:
        raise too_large
    raw = request.get_data(cache=False)
    if len(raw) > route.max_body_bytes:
        raise too_large
    return raw


def _json(raw: bytes) -> object:
    try:
        return json.loads(raw) if raw else None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"the request body is not JSON: {exc}") from exc
