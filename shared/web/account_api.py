"""Handlers of the caller's account routes: uploads through signed URLs, and quotas."""

from __future__ import annotations

import flask

from shared import bootstrap
from shared.config import settings
from shared.services.quota_admin import InvalidQuota, set_quota, show_quota
from shared.services.uploads import InvalidUpload, UploadWishes, issue_upload
from shared.web.routing import ApiError, Call


def create_upload(call: Call) -> flask.Response:
    body = call.body if isinstance(call.body, dict) else None
    if body is None or not isinstance(body.get("file_name"), str):
        raise ApiError(400, "invalid_body", 'send {"file_name": "design.tar.gz", "notify": true}')
    notify, reuse = body.get("notify", True), body.get("reuse", True)
    if not isinstance(notify, bool) or not isinstance(reuse, bool):
        raise ApiError(400, "invalid_body", "notify and reuse must be true or false")
    try:
        ticket = issue_upload(
            bootstrap.results_store(),
            settings().designs_bucket,
            call.user,
            body["file_name"],
            UploadWishes(notify=notify, reuse=reuse),
            call.now,
        )
    except InvalidUpload as exc:
        raise ApiError(400, "invalid_file_name", str(exc)) from exc
    response = flask.jsonify(
        object_name=ticket.object_name,
        upload_url=ticket.url,
        method=ticket.method,
        headers=ticket.headers,
        expires_at=ticket.expires_at.isoformat().replace("+00:00", "Z"),
    )
    response.status_code = 201
    return response


def my_quota(call: Call) -> flask.Response:
    return _quota_of(call, call.user)


def users_quota(call: Call) -> flask.Response:
    return _quota_of(call, call.params["user"].lower())


def change_quota(call: Call) -> flask.Response:
    if not isinstance(call.body, dict):
        raise ApiError(400, "invalid_quota", "send a JSON object of quota fields")
    try:
        set_quota(bootstrap.quotas(), call.user, call.params["user"].lower(), call.body)
    except InvalidQuota as exc:
        raise ApiError(400, "invalid_quota", str(exc)) from exc
    return users_quota(call)


def _quota_of(call: Call, user: str) -> flask.Response:
    config = settings()
    return flask.jsonify(show_quota(bootstrap.quotas(), bootstrap.quota_limits(config), call.user, user, call.now))
