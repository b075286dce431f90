"""Every setting of the service, read from environment variables once per process and validated.

This is the one list: docs/configuration.md is generated from it (`python -m shared.config --markdown`) and a test
keeps the two in step.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any
from urllib.parse import urlparse

FLOW_RUNNERS = ("qflow-osu035", "yosys-osu035", "openlane1", "librelane", "librelane-osu035")
# Flows only the local stack may offer (OLC_ENV=local): the load test of bench/scale.py runs no design at all.
LOCAL_ONLY_FLOWS = ("load-test",)
# Flows that need LibreLane installed on the nodes (LIBRELANE_RUNTIME=native).
NATIVE_LIBRELANE_FLOWS = ("librelane-osu035",)


class ConfigError(ValueError):
    pass


def _setting(env: str, doc: str, default: Any = MISSING, parse: Callable[[str], Any] = str) -> Any:
    metadata = {"env": env, "doc": doc, "parse": parse}
    if default is MISSING:
        return field(metadata=metadata)
    return field(default=default, metadata=metadata)


def _bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"{value!r} is not true/false")


def _positive_int(value: str) -> int:
    number = int(value)
    if number <= 0:
        raise ValueError(f"{value!r} is not a positive whole number")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError(f"{value!r} is not a positive number")
    return number


def _name_list(value: str) -> tuple[str, ...]:
    return tuple(e.strip() for e in value.split(",") if e.strip())


def _email_list(value: str) -> tuple[str, ...]:
    return tuple(e.strip().lower() for e in value.split(",") if e.strip())


@dataclass(frozen=True, kw_only=True)
class Settings:
    project_id: str = _setting("GOOGLE_CLOUD_PROJECT", "Google Cloud project id.")
    environment: str = _setting("OLC_ENV", "`production`, or `local` for the emulator stack.", "production")
    designs_bucket: str = _setting("DESIGNS_BUCKET", "Bucket users upload design archives to (`<email>/<file>`).")
    results_bucket: str = _setting("RESULTS_BUCKET", "Bucket the runs write results to (`<email>/<job id>/`).")
    jobs_topic: str = _setting(
        "JOBS_TOPIC", "Pub/Sub topic the dispatcher listens on (job queued, slot freed).", "olc-jobs"
    )
    job_concurrency: int = _setting("JOB_CONCURRENCY", "Most jobs active in Slurm at once.", 10, _positive_int)
    user_concurrency: int = _setting(
        "USER_CONCURRENCY", "Most jobs of one user active at once (per-user overrides in Firestore).", 3, _positive_int
    )
    user_max_queued: int = _setting(
        "USER_MAX_QUEUED", "Most jobs of one user waiting; further uploads are rejected.", 50, _positive_int
    )
    user_monthly_core_hours: float = _setting(
        "USER_MONTHLY_CORE_HOURS", "Core-hours one user may use per calendar month (UTC).", 200.0, _positive_float
    )
    budget_action: str = _setting(
        "BUDGET_ACTION", "`wait` or `reject`: what happens to a run that would exceed the monthly budget.", "wait"
    )
    admins: tuple[str, ...] = _setting(
        "ADMINS", "Comma-separated e-mails with admin rights (more in Firestore config/admins).", (), _email_list
    )
    flow_runner: str = _setting(
        "FLOW_RUNNER", f"Flow that runs designs: one of {', '.join(FLOW_RUNNERS)}.", "qflow-osu035"
    )
    extra_flows: tuple[str, ...] = _setting(
        "EXTRA_FLOWS",
        "Further flows users may choose with `OLC_FLOW` in config.json (comma-separated).",
        (),
        _name_list,
    )
    openlane_image: str = _setting(
        "OPENLANE_IMAGE", "Singularity image of OpenLane 1 on the cluster.", "/apps/openlane/openlane.sif"
    )
    openlane_pdk_root: str = _setting(
        "OPENLANE_PDK_ROOT", "PDK folder matching the OpenLane 1 image, bound into it.", "/apps/openlane/pdks"
    )
    librelane_image: str = _setting(
        "LIBRELANE_IMAGE", "Singularity image of LibreLane on the cluster.", "/apps/librelane/librelane.sif"
    )
    librelane_pdk_root: str = _setting(
        "LIBRELANE_PDK_ROOT", "PDK folder matching the LibreLane image, bound into it.", "/apps/librelane/pdks"
    )
    container_binary: str = _setting("CONTAINER_BINARY", "`singularity` or `apptainer`.", "singularity")
    librelane_runtime: str = _setting(
        "LIBRELANE_RUNTIME",
        "`container`: LibreLane runs in LIBRELANE_IMAGE; `native`: the LibreLane installed on the nodes with "
        "LIBRELANE_PYTHON runs (pip or Nix installs; the local stack). LIBRELANE_PDK_ROOT is the PDK folder "
        "either way.",
        "container",
    )
    librelane_python: str = _setting(
        "LIBRELANE_PYTHON",
        "With LIBRELANE_RUNTIME=native: the Python interpreter (absolute path) of the environment LibreLane is "
        "installed in; that environment's bin folder comes first on PATH, so its tools (yosys) are found.",
        "",
    )
    default_cpus: int = _setting("DEFAULT_CPUS", "CPUs per run.", 1, _positive_int)
    default_memory_mb: int = _setting("DEFAULT_MEMORY_MB", "Memory per run (MB).", 4096, _positive_int)
    default_time_limit_minutes: int = _setting(
        "DEFAULT_TIME_LIMIT_MINUTES", "Time limit per run (minutes).", 50, _positive_int
    )
    max_time_limit_minutes: int = _setting(
        "MAX_TIME_LIMIT_MINUTES",
        "Longest time limit a design may ask for with OLC_TIME_LIMIT_MINUTES in config.json.",
        240,
        _positive_int,
    )
    max_upload_bytes: int = _setting("MAX_UPLOAD_BYTES", "Largest accepted upload (bytes).", 256 << 20, _positive_int)
    max_archive_entries: int = _setting(
        "MAX_ARCHIVE_ENTRIES", "Most entries (files and folders) an upload may hold.", 5000, _positive_int
    )
    max_unpacked_bytes: int = _setting(
        "MAX_UNPACKED_BYTES", "Most bytes the files of an upload may add up to, unpacked.", 1 << 30, _positive_int
    )
    max_file_bytes: int = _setting(
        "MAX_FILE_BYTES", "Largest single file in an upload (bytes, unpacked).", 256 << 20, _positive_int
    )
    max_compression_ratio: float = _setting(
        "MAX_COMPRESSION_RATIO",
        "Most unpacked bytes per byte of upload (beyond the first MiB); more is refused as a compression bomb.",
        200.0,
        _positive_float,
    )
    max_sweep_runs: int = _setting(
        "MAX_SWEEP_RUNS", "Most runs one design-space sweep (OLC_SWEEP) may ask for.", 24, _positive_int
    )
    max_cpus_per_job: int = _setting(
        "MAX_CPUS_PER_JOB", "Most CPUs a design may ask for with OLC_CPUS in config.json.", 8, _positive_int
    )
    max_memory_mb_per_job: int = _setting(
        "MAX_MEMORY_MB_PER_JOB",
        "Most memory (MB) a design may ask for with OLC_MEMORY_MB in config.json.",
        32768,
        _positive_int,
    )
    slurm_login_host: str = _setting(
        "SLURM_LOGIN_HOST", "Login node address; empty: look it up with the Compute API.", ""
    )
    slurm_login_port: int = _setting("SLURM_LOGIN_PORT", "SSH port of the login node.", 22, _positive_int)
    slurm_login_user: str = _setting("SLURM_LOGIN_USER", "Account that submits jobs on the login node.", "olc")
    slurm_host_key: str = _setting(
        "SLURM_HOST_KEY", "Login node's SSH host key (`type base64`); empty: trust on first use.", ""
    )
    login_node_zone: str = _setting("LOGIN_NODE_ZONE", "Zone searched for the login node when no host is set.", "")
    login_node_pattern: str = _setting("LOGIN_NODE_PATTERN", "Name fragment of the login node instance.", "login")
    slurm_partition: str = _setting("SLURM_PARTITION", "Partition the runs go to.", "debug")
    slurm_work_root: str = _setting(
        "SLURM_WORK_ROOT", "Absolute folder on the cluster's shared disk for run work dirs.", "/home/olc/jobs"
    )
    slurm_command_timeout_s: int = _setting(
        "SLURM_COMMAND_TIMEOUT_S", "Seconds one remote Slurm command may take.", 60, _positive_int
    )
    job_storage_endpoint: str = _setting(
        "JOB_STORAGE_ENDPOINT",
        "Cloud Storage endpoint as the compute nodes reach it.",
        "https://storage.googleapis.com",
    )
    job_heartbeat_s: int = _setting(
        "JOB_HEARTBEAT_S",
        "Seconds between a running job's progress reports (live stage and log tail); each is one hook call.",
        20,
        _positive_int,
    )
    completion_url: str = _setting("COMPLETION_URL", "URL of the completion hook as the cluster reaches it.")
    hook_auth: str = _setting(
        "HOOK_AUTH",
        "`google-id-token` (production) or `none`: how the cluster authenticates to the hook beyond HMAC.",
        "google-id-token",
    )
    secrets_backend: str = _setting("SECRETS_BACKEND", "`secret-manager` or `directory`.", "secret-manager")
    secrets_dir: str = _setting("SECRETS_DIR", "Folder of secret files when SECRETS_BACKEND=directory.", "")
    ssh_key_secret: str = _setting("SSH_KEY_SECRET", "Secret holding the login node's private SSH key.", "olc-ssh-key")
    hook_key_secret: str = _setting(
        "HOOK_KEY_SECRET", "Secret holding the completion hook's HMAC master key.", "olc-hook-key"
    )
    smtp_password_secret: str = _setting(
        "SMTP_PASSWORD_SECRET", "Secret holding the SMTP password; empty: no login.", ""
    )
    smtp_host: str = _setting("SMTP_HOST", "SMTP relay host; empty disables e-mail.", "")
    smtp_port: int = _setting("SMTP_PORT", "SMTP relay port.", 587, _positive_int)
    smtp_user: str = _setting("SMTP_USER", "SMTP login name.", "")
    smtp_starttls: bool = _setting("SMTP_STARTTLS", "Use STARTTLS.", True, _bool)
    mail_from: str = _setting("MAIL_FROM", "Sender of the e-mails.", "OpenLane Cloud <noreply@openlane.cloud>")
    status_base_url: str = _setting("STATUS_BASE_URL", "Base URL of the API / status page, for links in e-mails.", "")
    storage_public_url: str = _setting(
        "STORAGE_PUBLIC_URL", "Cloud Storage endpoint in the signed links users get.", "https://storage.googleapis.com"
    )
    url_signing_key_secret: str = _setting(
        "URL_SIGNING_KEY_SECRET",
        "Secret holding a service-account key to sign links with; empty: sign through IAM as the function's "
        "own service account (production).",
        "",
    )
    id_token_audiences: tuple[str, ...] = _setting(
        "ID_TOKEN_AUDIENCES",
        "Comma-separated audiences the API accepts in users' ID tokens: the OAuth client id(s) of the web page and "
        "CLI, or the Firebase project id. Empty: the API accepts no one.",
        (),
        _name_list,
    )
    id_token_issuers: tuple[str, ...] = _setting(
        "ID_TOKEN_ISSUERS",
        "Comma-separated issuers of accepted ID tokens (Firebase: `https://securetoken.google.com/PROJECT`).",
        ("https://accounts.google.com", "accounts.google.com"),
        _name_list,
    )
    id_token_certs_url: str = _setting(
        "ID_TOKEN_CERTS_URL",
        "Where the issuers' signing certificates are published, as {key id: PEM} (Firebase: "
        "`https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com`).",
        "https://www.googleapis.com/oauth2/v1/certs",
    )
    dispatch_lease_s: int = _setting(
        "DISPATCH_LEASE_S",
        "Seconds the dispatch lease lasts without renewal (renewed per submit chunk); also how long a crashed "
        "dispatcher can hold up the queue.",
        60,
        _positive_int,
    )
    submit_give_up_s: int = _setting(
        "SUBMIT_GIVE_UP_S",
        "Seconds an admitted job may keep failing to reach the cluster before it FAILS with the reason.",
        1800,
        _positive_int,
    )
    reconcile_after_s: int = _setting(
        "RECONCILE_AFTER_S",
        "Seconds an active job may go without news before the tick asks Slurm about it.",
        120,
        _positive_int,
    )
    faults_file: str = _setting(
        "OLC_FAULTS_FILE", "Local stack only: JSON file of faults to inject (tests). Ignored in production.", ""
    )
    git_fetch_topic: str = _setting(
        "GIT_FETCH_TOPIC",
        "Pub/Sub topic the git fetcher listens on (a git submission waits for its design).",
        "olc-git-fetches",
    )
    git_allowed_http_hosts: tuple[str, ...] = _setting(
        "GIT_ALLOWED_HTTP_HOSTS",
        "Comma-separated git hosts allowed over plain http and without the public-address check (the local stack's "
        "git server on loopback). Empty in production: https only, to public addresses only.",
        (),
        _name_list,
    )
    git_max_bytes: int = _setting(
        "GIT_MAX_BYTES", "Most bytes one git fetch may bring onto the fetcher's disk.", 200 << 20, _positive_int
    )
    git_timeout_s: int = _setting("GIT_TIMEOUT_S", "Most seconds one git fetch may take.", 120, _positive_int)
    git_work_dir: str = _setting(
        "GIT_WORK_DIR", "Scratch folder of the git fetcher; empty: the system's temporary folder.", ""
    )
    flow_versions: tuple[str, ...] = _setting(
        "FLOW_VERSIONS",
        "Comma-separated `flow=version` of the tools each flow runs (e.g. `qflow-osu035=qflow 1.4.100`); part of "
        "the content key, so a new version never reuses an old version's results. Container flows add their "
        "image reference anyway.",
        (),
        _name_list,
    )
    result_reuse: str = _setting(
        "RESULT_REUSE",
        "`user`: a job with the same inputs as a user's earlier successful job reuses its results; `all`: anyone's "
        "(tells a user that someone ran the same design); `off`: every job runs.",
        "user",
    )
    completion_wait_s: int = _setting(
        "COMPLETION_WAIT_S",
        "Seconds the hook waits for Slurm to finalise a job before asking the caller to retry.",
        10,
        _positive_int,
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in fields(cls):
            env = f.metadata["env"]
            raw = environ.get(env)
            if raw is None:
                if f.default is MISSING:
                    problems.append(f"{env} is not set ({f.metadata['doc']})")
                continue
            try:
                values[f.name] = f.metadata["parse"](raw.strip())
            except ValueError as exc:
                problems.append(f"{env}: {exc}")
        if problems:
            raise ConfigError("configuration: " + "; ".join(problems))
        settings = cls(**values)
        settings._check()
        return settings

    def flow_version(self, flow: str) -> str:
        """What the content key takes as the version of `flow`: FLOW_VERSIONS' entry, plus the image it runs in."""
        declared = dict(v.split("=", 1) for v in self.flow_versions if "=" in v).get(flow, "")
        image = {
            "openlane1": self.openlane_image,
            "librelane": self.librelane_image if self.librelane_runtime == "container" else "",
        }.get(flow, "")
        return " ".join(part for part in (declared, image) if part)

    @property
    def offered_flows(self) -> tuple[str, ...]:
        return (self.flow_runner, *(f for f in self.extra_flows if f != self.flow_runner))

    def _check(self) -> None:
        problems = [*self._flow_problems(), *self._service_problems(), *self._cluster_problems()]
        if problems:
            raise ConfigError("configuration: " + "; ".join(problems))

    def _flow_problems(self) -> list[str]:
        problems = []
        if self.flow_runner not in FLOW_RUNNERS:
            problems.append(f"FLOW_RUNNER must be one of {', '.join(FLOW_RUNNERS)}, not {self.flow_runner!r}")
        local_only = [f for f in self.extra_flows if f in LOCAL_ONLY_FLOWS]
        unknown_flows = [f for f in self.extra_flows if f not in FLOW_RUNNERS and f not in local_only]
        if unknown_flows:
            problems.append(f"EXTRA_FLOWS names unknown flows {unknown_flows}; known: {', '.join(FLOW_RUNNERS)}")
        if local_only and self.environment != "local":
            problems.append(f"EXTRA_FLOWS names {local_only}, which only the local stack offers (OLC_ENV=local)")
        if self.librelane_runtime not in ("container", "native"):
            problems.append(f"LIBRELANE_RUNTIME must be container or native, not {self.librelane_runtime!r}")
        if self.librelane_runtime == "native" and not self.librelane_python.startswith("/"):
            problems.append("LIBRELANE_PYTHON must be an absolute path when LIBRELANE_RUNTIME=native")
        needs_native = [f for f in self.offered_flows if f in NATIVE_LIBRELANE_FLOWS]
        if needs_native and self.librelane_runtime != "native":
            problems.append(f"flows {needs_native} need LIBRELANE_RUNTIME=native (LibreLane installed on the nodes)")
        return problems

    def _service_problems(self) -> list[str]:
        problems = []
        if self.environment not in ("production", "local"):
            problems.append(f"OLC_ENV must be production or local, not {self.environment!r}")
        if self.secrets_backend not in ("secret-manager", "directory"):
            problems.append(f"SECRETS_BACKEND must be secret-manager or directory, not {self.secrets_backend!r}")
        if self.secrets_backend == "directory" and not self.secrets_dir:
            problems.append("SECRETS_DIR must be set when SECRETS_BACKEND=directory")
        if self.result_reuse not in ("user", "all", "off"):
            problems.append(f"RESULT_REUSE must be user, all or off, not {self.result_reuse!r}")
        bad_versions = [v for v in self.flow_versions if "=" not in v or v.split("=", 1)[0] not in FLOW_RUNNERS]
        if bad_versions:
            problems.append(f"FLOW_VERSIONS entries must be flow=version with a known flow: {bad_versions}")
        if self.budget_action not in ("wait", "reject"):
            problems.append(f"BUDGET_ACTION must be wait or reject, not {self.budget_action!r}")
        if self.hook_auth not in ("none", "google-id-token"):
            problems.append(f"HOOK_AUTH must be none or google-id-token, not {self.hook_auth!r}")
        if self.hook_auth == "none" and self.environment == "production":
            problems.append("HOOK_AUTH=none is only allowed with OLC_ENV=local")
        for name in ("completion_url", "job_storage_endpoint"):
            if urlparse(getattr(self, name)).scheme not in ("http", "https"):
                problems.append(f"{name.upper()} must be an http(s) URL")
        return problems

    def _cluster_problems(self) -> list[str]:
        problems = []
        if not self.slurm_work_root.startswith("/"):
            problems.append(f"SLURM_WORK_ROOT must be an absolute path, not {self.slurm_work_root!r}")
        if self.default_cpus > self.max_cpus_per_job or self.default_memory_mb > self.max_memory_mb_per_job:
            problems.append("DEFAULT_CPUS / DEFAULT_MEMORY_MB must not exceed MAX_CPUS_PER_JOB / MAX_MEMORY_MB_PER_JOB")
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", self.slurm_partition):
            problems.append(f"SLURM_PARTITION {self.slurm_partition!r} is not a partition name")
        if not self.slurm_login_host and not self.login_node_zone:
            problems.append("set SLURM_LOGIN_HOST, or LOGIN_NODE_ZONE so the login node can be looked up")
        return problems


@functools.cache
def settings() -> Settings:
    """The process's settings, validated on first use."""
    return Settings.from_env()


def markdown_table() -> str:
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for f in fields(Settings):
        shown = ",".join(f.default) if isinstance(f.default, tuple) else f.default
        default = "(required)" if f.default is MISSING else f"`{shown}`"
        rows.append(f"| `{f.metadata['env']}` | {default} | {f.metadata['doc']} |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--markdown"]:
        sys.stdout.write(markdown_table())
