"""JSON Schemas of the API's bodies, as they appear in the OpenAPI document (components/schemas)."""

from __future__ import annotations

from typing import Any, get_args, get_type_hints

from shared.domain.job import JobState
from shared.domain.metrics import Metrics

Schema = dict[str, Any]


def _nullable(kind: str, **extra: Any) -> Schema:
    return {"type": [kind, "null"], **extra}


_TIME = {"type": "string", "format": "date-time"}
_JSON_TYPES = {int: "integer", float: "number", bool: "boolean"}


def _metric_properties() -> dict[str, Schema]:
    """One property per Metrics field, typed from the dataclass itself."""
    properties: dict[str, Schema] = {}
    for name, hint in get_type_hints(Metrics).items():
        kind = next(t for t in get_args(hint) if t is not type(None))
        if kind in _JSON_TYPES:
            properties[name] = {"type": _JSON_TYPES[kind]}
        else:  # per-corner timing: {corner: {figure: number}}
            properties[name] = {
                "type": "object",
                "additionalProperties": {"type": "object", "additionalProperties": {"type": "number"}},
            }
    return properties


_NULLABLE_TIME = _nullable("string", format="date-time")
_STATE = {"type": "string", "enum": [s.value for s in JobState]}

SCHEMAS: dict[str, Schema] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "Stable, machine-readable reason."},
                    "message": {"type": "string", "description": "What went wrong and what to do."},
                    "details": {"description": "More about the problem, when there is more."},
                },
            }
        },
    },
    "TimelineEvent": {
        "type": "object",
        "required": ["kind", "name", "at"],
        "properties": {
            "kind": {"type": "string", "enum": ["state", "stage"]},
            "name": {"type": "string"},
            "at": _TIME,
            "reason": _nullable("string"),
            "step": _nullable("integer", description="Inside a multi-step flow (OpenLane): which step this is."),
            "steps": _nullable("integer", description="How many steps the flow has, where known."),
            "duration_s": _nullable("number", description="Until the next event; null for the last one."),
        },
    },
    "Metrics": {
        "type": "object",
        "description": "Key figures of a finished run; a figure the flow did not measure is absent (shown to users as "
        "'not measured', never as 0).",
        "properties": _metric_properties(),
    },
    "Job": {
        "type": "object",
        "required": ["id", "owner", "state", "created_at", "timeline", "links"],
        "properties": {
            "id": {"type": "string", "pattern": "^j[0-9a-f]{19}$"},
            "owner": {"type": "string"},
            "state": _STATE,
            "stage": _nullable("string", description="The flow stage running now, or the last one."),
            "design_name": _nullable("string"),
            "flow": _nullable("string"),
            "upload": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "size": _nullable("integer")},
            },
            "created_at": _TIME,
            "updated_at": _TIME,
            "timeline": {"type": "array", "items": {"$ref": "#/components/schemas/TimelineEvent"}},
            "progress": {
                "type": "object",
                "description": "Flow stages (inside OpenLane: its steps) finished of those planned, for progress bars.",
                "properties": {
                    "stages_done": {"type": "integer"},
                    "stages_total": {"type": "integer"},
                    "planned_stages": {"type": "array", "items": {"type": "string"}},
                    "unit": {"type": "string", "enum": ["stages", "steps", "runs"]},
                    "current": _nullable("string", description='e.g. "step 7 of 10: Yosys.Synthesis"'),
                },
            },
            "queue_position": _nullable("integer", description="1-based place among waiting jobs."),
            "estimated_start_at": _NULLABLE_TIME,
            "reason": _nullable("string", description="Why the job was rejected or ended as it did."),
            "last_error": _nullable("string"),
            "error_excerpt": _nullable("string"),
            "warnings": {
                "type": "array",
                "items": {"type": "string"},
                "description": "What to know about a succeeded run, e.g. a step that measured nothing.",
            },
            "metrics": {"oneOf": [{"$ref": "#/components/schemas/Metrics"}, {"type": "null"}]},
            "resources": {
                "type": "object",
                "properties": {
                    "cpus": {"type": "integer"},
                    "memory_mb": {"type": "integer"},
                    "time_limit_minutes": {"type": "integer"},
                },
            },
            "core_hours": _nullable("number"),
            "flow_runtime_s": _nullable("number"),
            "slurm_job_id": _nullable("string"),
            "notifications_enabled": {"type": "boolean"},
            "links": {"type": "object", "additionalProperties": {"type": "string", "format": "uri"}},
            "sweep": {
                "type": ["object", "null"],
                "description": "A design-space sweep's runs (settings, state, figures) and its best run.",
                "properties": {
                    "parameters": {"type": "object"},
                    "objective": {"type": "string"},
                    "throttle": {"type": ["integer", "null"]},
                    "best_run": {"type": ["integer", "null"]},
                    "runs": {"type": "array", "items": {"type": "object"}},
                },
            },
            "log": {
                "oneOf": [{"$ref": "#/components/schemas/LogTail"}, {"type": "null"}],
                "description": "Only with ?include=log: the end of the run's log, null when there is none (yet).",
            },
            "artifacts": {
                "type": ["array", "null"],
                "items": {"$ref": "#/components/schemas/Artifact"},
                "description": "Only with ?include=artifacts: the run's files with links valid for 15 minutes, null "
                "until the job has ended with results.",
            },
        },
    },
    "JobList": {
        "type": "object",
        "required": ["jobs", "next_cursor"],
        "properties": {
            "jobs": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}},
            "next_cursor": _nullable("string", description="Pass as ?cursor= for the next page; null at the end."),
        },
    },
    "CancelResult": {
        "type": "object",
        "required": ["job_id", "state", "message"],
        "properties": {"job_id": {"type": "string"}, "state": _STATE, "message": {"type": "string"}},
    },
    "Deleted": {
        "type": "object",
        "required": ["job_id", "deleted", "objects_removed"],
        "properties": {
            "job_id": {"type": "string"},
            "deleted": {"type": "boolean"},
            "objects_removed": {"type": "integer"},
        },
    },
    "Artifact": {
        "type": "object",
        "required": ["path", "size", "url", "expires_at"],
        "properties": {
            "path": {"type": "string"},
            "size": {"type": "integer"},
            "url": {"type": "string", "format": "uri"},
            "expires_at": _TIME,
        },
    },
    "ArtifactList": {
        "type": "object",
        "required": ["job_id", "artifacts"],
        "properties": {
            "job_id": {"type": "string"},
            "artifacts": {"type": "array", "items": {"$ref": "#/components/schemas/Artifact"}},
        },
    },
    "LogTail": {
        "type": "object",
        "required": ["job_id", "state", "source", "lines"],
        "properties": {
            "job_id": {"type": "string"},
            "state": _STATE,
            "source": {"type": "string", "description": "`live` while the run goes on, else the log file."},
            "lines": {"type": "array", "items": {"type": "string"}},
        },
    },
    "JobMetrics": {
        "type": "object",
        "required": ["job_id", "state", "metrics"],
        "properties": {
            "job_id": {"type": "string"},
            "state": _STATE,
            "metrics": {"$ref": "#/components/schemas/Metrics"},
        },
    },
    "Comparison": {
        "type": "object",
        "description": "Jobs and sweep runs side by side, the first as the reference. ?format=csv gives the same as "
        "one CSV table (text/csv): a line per setting and metric, each other entry's value, difference, difference "
        "% and verdict.",
        "required": ["reference", "entries", "settings", "rows"],
        "properties": {
            "reference": {"type": "string", "description": "The first entry, JOB or JOB:RUN."},
            "page": {"type": "string", "format": "uri", "description": "The comparison's status page."},
            "entries": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["ref", "job_id", "run", "state"],
                    "properties": {
                        "ref": {"type": "string", "description": "JOB, or JOB:RUN for one run of a sweep."},
                        "job_id": {"type": "string", "pattern": "^j[0-9a-f]{19}$"},
                        "run": _nullable("integer", description="The sweep run, as the job page numbers them."),
                        "state": {"type": "string", "description": "The job's state, or the run's."},
                        "design_name": _nullable("string"),
                        "flow": _nullable("string"),
                        "page": {"type": "string", "format": "uri"},
                    },
                },
            },
            "settings": {
                "type": "array",
                "description": "The config.json settings in which the entries differ (null: not set).",
                "items": {
                    "type": "object",
                    "required": ["name", "values"],
                    "properties": {"name": {"type": "string"}, "values": {"type": "array"}},
                },
            },
            "rows": {
                "type": "array",
                "description": "One per metric: the key figures always, others (and timing corners, as "
                "corners.<corner>.<figure>) when any entry measured them.",
                "items": {
                    "type": "object",
                    "required": ["metric", "better", "cells"],
                    "properties": {
                        "metric": {"type": "string"},
                        "better": {
                            "type": ["string", "null"],
                            "enum": ["lower", "higher", None],
                            "description": "Which way the figure is better; null: only equal or different.",
                        },
                        "cells": {
                            "type": "array",
                            "description": "One per entry, the reference's first.",
                            "items": {
                                "type": "object",
                                "required": ["value", "verdict"],
                                "properties": {
                                    "value": {
                                        "type": ["number", "boolean", "null"],
                                        "description": "null: not measured (never 0).",
                                    },
                                    "verdict": {
                                        "type": "string",
                                        "enum": [
                                            "reference",
                                            "better",
                                            "worse",
                                            "equal",
                                            "different",
                                            "not_measured",
                                            "reference_not_measured",
                                        ],
                                    },
                                    "difference": _nullable("number", description="value - reference"),
                                    "percent": _nullable(
                                        "number", description="The difference in % of the reference (null if 0)."
                                    ),
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "GitSubmitRequest": {
        "type": "object",
        "required": ["git"],
        "properties": {
            "git": {
                "type": "object",
                "required": ["url"],
                "properties": {
                    "url": {"type": "string", "description": "https:// URL of the repository."},
                    "ref": {"type": "string", "default": "main", "description": "Branch, tag or full commit SHA."},
                    "path": {"type": "string", "default": "", "description": "Design folder (holds config.json)."},
                },
            },
            "notify": {"type": "boolean", "default": True, "description": "E-mail me about this job."},
            "reuse": {
                "type": "boolean",
                "default": True,
                "description": "Reuse the results of an earlier successful job with the same inputs.",
            },
        },
    },
    "GitSubmission": {
        "type": "object",
        "required": ["job_id", "state", "git", "page"],
        "properties": {
            "job_id": {"type": "string"},
            "state": {"type": "string", "enum": ["FETCHING", "QUEUED", "REJECTED"]},
            "git": {"type": "object"},
            "page": {"type": "string", "format": "uri"},
        },
    },
    "RerunRequest": {
        "type": "object",
        "properties": {
            "overrides": {
                "type": "object",
                "description": 'config.json settings to change, e.g. {"CLOCK_PERIOD": 12}; checked like config.json.',
            },
            "notify": {"type": "boolean", "description": "E-mail me about the new job (default: as the parent)."},
            "reuse": {"type": "boolean", "default": True},
        },
    },
    "RerunTicket": {
        "type": "object",
        "required": ["job_id", "parent_job", "upload", "page"],
        "properties": {
            "job_id": {"type": "string", "description": "The new job; it appears within a second."},
            "parent_job": {"type": "string"},
            "upload": {"type": "string", "description": "The copy of the source the new job runs."},
            "page": {"type": "string", "format": "uri"},
        },
    },
    "UploadRequest": {
        "type": "object",
        "required": ["file_name"],
        "properties": {
            "file_name": {"type": "string", "description": "e.g. spm.tar.gz (.tar.gz, .tgz, .tar or .zip)."},
            "notify": {"type": "boolean", "default": True, "description": "E-mail me about this job."},
            "reuse": {
                "type": "boolean",
                "default": True,
                "description": "Reuse the results of an earlier successful job with the same inputs.",
            },
        },
    },
    "UploadTicket": {
        "type": "object",
        "required": ["object_name", "upload_url", "method", "headers", "expires_at"],
        "properties": {
            "object_name": {"type": "string"},
            "upload_url": {"type": "string", "format": "uri"},
            "method": {"type": "string", "enum": ["PUT"]},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "expires_at": _TIME,
        },
    },
    "RepoRequest": {
        "type": "object",
        "required": ["url"],
        "properties": {
            "url": {"type": "string", "description": "https:// URL of the repository."},
            "branch": {"type": "string", "default": "main", "description": "Pushes to this branch run the design."},
            "path": {"type": "string", "default": "", "description": "Design folder (holds config.json)."},
        },
    },
    "Repo": {
        "type": "object",
        "required": ["id", "url", "branch", "path", "created_at", "webhook_url"],
        "properties": {
            "id": {"type": "string", "pattern": "^r[0-9a-f]{19}$"},
            "url": {"type": "string", "description": "The repository's URL, normalised."},
            "branch": {"type": "string"},
            "path": {"type": "string"},
            "created_at": _TIME,
            "webhook_url": {"type": "string", "format": "uri", "description": "The webhook's payload URL."},
        },
    },
    "RepoRegistered": {
        "type": "object",
        "description": "The new registration and what the repository's webhook needs. The secret is shown only here.",
        "allOf": [{"$ref": "#/components/schemas/Repo"}],
        "required": ["id", "webhook_url", "secret", "content_type", "events"],
        "properties": {
            "secret": {"type": "string", "description": "The webhook's secret (HMAC-SHA256 key)."},
            "content_type": {"type": "string", "enum": ["application/json"]},
            "events": {"type": "array", "items": {"type": "string", "enum": ["push"]}},
        },
    },
    "RepoList": {
        "type": "object",
        "required": ["repos"],
        "properties": {"repos": {"type": "array", "items": {"$ref": "#/components/schemas/Repo"}}},
    },
    "RepoRemoved": {
        "type": "object",
        "required": ["id", "removed"],
        "properties": {"id": {"type": "string"}, "removed": {"type": "boolean"}},
    },
    "GitPushEvent": {
        "type": "object",
        "description": "A GitHub push event (or ping), as GitHub sends it; only these fields are read.",
        "required": ["repository"],
        "properties": {
            "ref": {"type": "string", "description": "e.g. refs/heads/main"},
            "after": {"type": "string", "description": "The pushed commit (40 hex digits; all zeros: deleted)."},
            "deleted": {"type": "boolean"},
            "repository": {
                "type": "object",
                "properties": {"clone_url": {"type": "string"}, "html_url": {"type": "string"}},
            },
        },
    },
    "GitHookResult": {
        "type": "object",
        "description": "202 {job_ids, pages}: jobs started; 202 {ignored}: nothing to run (another branch, a tag, a "
        "deleted branch, not a push); 200 {duplicate, job_id}: this delivery was received before; 200 {pong}.",
        "properties": {
            "job_ids": {"type": "array", "items": {"type": "string"}},
            "pages": {"type": "array", "items": {"type": "string", "format": "uri"}},
            "ignored": {"type": "string"},
            "duplicate": {"type": "boolean"},
            "job_id": {"type": "string"},
            "pong": {"type": "boolean"},
        },
    },
    "Quota": {"type": "object", "description": "A user's effective limits and this month's usage, or the defaults."},
    "QuotaChange": {
        "type": "object",
        "description": "Fields to change; null restores the configured default.",
        "properties": {
            "concurrency": _nullable("integer"),
            "max_queued": _nullable("integer"),
            "monthly_core_hours": _nullable("number"),
            "budget_action": _nullable("string"),
            "global_concurrency": _nullable("integer"),
            "user_concurrency": _nullable("integer"),
            "user_max_queued": _nullable("integer"),
            "user_monthly_core_hours": _nullable("number"),
        },
    },
    "QueueOverview": {
        "type": "object",
        "required": ["at", "jobs", "wait_seconds", "median_run_seconds", "sample_size"],
        "properties": {
            "at": _TIME,
            "jobs": {
                "type": "object",
                "properties": {
                    "queued": {"type": "integer"},
                    "submitted": {"type": "integer"},
                    "running": {"type": "integer"},
                },
            },
            "wait_seconds": {
                "type": "object",
                "properties": {"median": _nullable("number"), "p90": _nullable("number")},
            },
            "median_run_seconds": _nullable("number"),
            "sample_size": {"type": "integer"},
        },
    },
}
