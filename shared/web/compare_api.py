"""Handler of GET /v1/compare?jobs=J1,J2:3: the caller's jobs and sweep runs side by side (JSON, or ?format=csv)."""

from __future__ import annotations

import flask

from shared import bootstrap
from shared.domain.compare import MAX_ENTRIES, MIN_ENTRIES, CompareError, NoSuchRun, parse_entry_list
from shared.services.compare import compare_runs
from shared.web.routing import ApiError, Call

FORMATS = ("json", "csv")
_HOW = (
    f"name {MIN_ENTRIES} to {MAX_ENTRIES} of your jobs, comma-separated, the first as the reference: "
    "?jobs=JOB,JOB:RUN (JOB:RUN is run RUN of a sweep job)"
)


def compare_jobs(call: Call) -> flask.Response:
    wanted = call.args.get("format") or "json"
    if wanted not in FORMATS:
        raise ApiError(400, "invalid_parameter", "format must be json or csv")
    listed = call.args.get("jobs") or ""
    if not listed.strip():
        raise ApiError(400, "invalid_jobs", _HOW)
    try:
        refs = parse_entry_list(listed)
    except CompareError as exc:
        raise ApiError(400, "invalid_jobs", f"{exc}; {_HOW}", {"problems": list(exc.problems)}) from exc
    try:
        # Another user's job (or a missing one) raises queries.NotFound: the API's 404, the same for both.
        comparison = compare_runs(bootstrap.jobs(), call.user, refs)
    except NoSuchRun as exc:
        raise ApiError(404, "no_run", str(exc)) from exc
    name = f"compare-{refs[0].job_id}-{len(refs)}"
    if wanted == "csv":
        response = flask.Response(comparison.to_csv(), mimetype="text/csv")
    else:
        data = comparison.to_dict()
        for entry in data["entries"]:
            entry["page"] = f"{call.base_url}/jobs/{entry['job_id']}"
        data["page"] = f"{call.base_url}/compare?jobs={','.join(str(r) for r in refs)}"
        response = flask.jsonify(data)
    if "format" in call.args:  # an export: the browser saves it as a file
        response.headers["Content-Disposition"] = f'attachment; filename="{name}.{wanted}"'
    return response
