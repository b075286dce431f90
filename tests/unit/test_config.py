"""Settings from environment variables, and the generated configuration reference."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from shared.config import ConfigError, Settings, markdown_table

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
REQUIRED = ("GOOGLE_CLOUD_PROJECT", "DESIGNS_BUCKET", "RESULTS_BUCKET", "COMPLETION_URL")
MINIMAL = {
    "GOOGLE_CLOUD_PROJECT": "olc-prod",
    "DESIGNS_BUCKET": "olc-designs",
    "RESULTS_BUCKET": "olc-results",
    "COMPLETION_URL": "https://completion-abc.run.app/",
    "SLURM_LOGIN_HOST": "10.0.0.5",
}


def problems(env: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    return str(caught.value)


def test_minimal_production_settings_and_defaults() -> None:
    settings = Settings.from_env(MINIMAL)
    assert (settings.project_id, settings.designs_bucket, settings.results_bucket) == (
        "olc-prod",
        "olc-designs",
        "olc-results",
    )
    assert settings.environment == "production"
    assert settings.hook_auth == "google-id-token"
    assert settings.job_concurrency == 10
    assert settings.default_time_limit_minutes == 50
    assert settings.smtp_starttls is True


def test_values_are_parsed_and_trimmed() -> None:
    env = {**MINIMAL, "JOB_CONCURRENCY": " 25 ", "SMTP_STARTTLS": "off", "SMTP_PORT": "2525", "OLC_ENV": "local"}
    settings = Settings.from_env({**env, "HOOK_AUTH": "none"})
    assert (settings.job_concurrency, settings.smtp_starttls, settings.smtp_port) == (25, False, 2525)
    assert (settings.environment, settings.hook_auth) == ("local", "none")


def test_every_missing_required_variable_is_reported_at_once() -> None:
    message = problems({"SLURM_LOGIN_HOST": "h"})
    for name in REQUIRED:
        assert f"{name} is not set" in message
    assert message.count("is not set") == len(REQUIRED)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JOB_CONCURRENCY", "0"),
        ("JOB_CONCURRENCY", "-3"),
        ("JOB_CONCURRENCY", "ten"),
        ("DEFAULT_MEMORY_MB", "4.5"),
        ("SLURM_LOGIN_PORT", ""),
        ("SMTP_STARTTLS", "maybe"),
    ],
)
def test_unparsable_values_name_the_variable(name: str, value: str) -> None:
    assert f"{name}: " in problems({**MINIMAL, name: value})


def test_parse_problems_and_missing_variables_come_together() -> None:
    env = {k: v for k, v in MINIMAL.items() if k != "RESULTS_BUCKET"}
    message = problems({**env, "JOB_CONCURRENCY": "0", "SMTP_PORT": "x"})
    assert "RESULTS_BUCKET is not set" in message
    assert "JOB_CONCURRENCY: " in message and "SMTP_PORT: " in message


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"OLC_ENV": "staging"}, "OLC_ENV must be production or local"),
        ({"FLOW_RUNNER": "magic"}, "FLOW_RUNNER must be one of"),
        ({"SECRETS_BACKEND": "vault"}, "SECRETS_BACKEND must be"),
        ({"SECRETS_BACKEND": "directory"}, "SECRETS_DIR must be set"),
        ({"HOOK_AUTH": "basic"}, "HOOK_AUTH must be none or google-id-token"),
        ({"SLURM_WORK_ROOT": "jobs"}, "SLURM_WORK_ROOT must be an absolute path"),
        ({"SLURM_PARTITION": "debug;rm"}, "SLURM_PARTITION 'debug;rm' is not a partition name"),
        ({"SLURM_LOGIN_HOST": ""}, "set SLURM_LOGIN_HOST, or LOGIN_NODE_ZONE"),
        ({"COMPLETION_URL": "completion.local"}, "COMPLETION_URL must be an http(s) URL"),
        ({"JOB_STORAGE_ENDPOINT": "ftp://x"}, "JOB_STORAGE_ENDPOINT must be an http(s) URL"),
    ],
)
def test_bad_values(change: dict[str, str], words: str) -> None:
    assert words in problems({**MINIMAL, **change})


def test_hook_auth_none_is_refused_in_production() -> None:
    assert "HOOK_AUTH=none is only allowed with OLC_ENV=local" in problems({**MINIMAL, "HOOK_AUTH": "none"})
    assert Settings.from_env({**MINIMAL, "HOOK_AUTH": "none", "OLC_ENV": "local"}).hook_auth == "none"


def test_consistency_problems_are_reported_together() -> None:
    message = problems({**MINIMAL, "OLC_ENV": "staging", "SLURM_WORK_ROOT": "rel", "COMPLETION_URL": "x"})
    assert "OLC_ENV" in message and "SLURM_WORK_ROOT" in message and "COMPLETION_URL" in message


def test_login_node_zone_replaces_the_host() -> None:
    env = {**MINIMAL, "SLURM_LOGIN_HOST": "", "LOGIN_NODE_ZONE": "europe-west1-b"}
    assert Settings.from_env(env).login_node_zone == "europe-west1-b"


def test_every_setting_has_a_variable_and_a_description() -> None:
    names = [f.metadata["env"] for f in fields(Settings)]
    assert len(names) == len(set(names))
    assert all(f.metadata["doc"].strip() for f in fields(Settings))


def test_the_markdown_table_lists_every_variable() -> None:
    table = markdown_table()
    for f in fields(Settings):
        assert f"| `{f.metadata['env']}` |" in table
    assert "| `GOOGLE_CLOUD_PROJECT` | (required) |" in table


def test_docs_configuration_md_is_generated_from_the_settings() -> None:
    assert DOCS.read_text() == markdown_table(), (
        "docs/configuration.md is out of date: run `python -m shared.config --markdown > docs/configuration.md`"
    )


def test_librelane_runtime_is_validated_with_the_flows_that_need_it() -> None:
    native = {**MINIMAL, "LIBRELANE_RUNTIME": "native", "LIBRELANE_PYTHON": "/opt/olc/librelane/bin/python"}
    assert Settings.from_env({**native, "EXTRA_FLOWS": "librelane-osu035"}).librelane_runtime == "native"
    with pytest.raises(ConfigError, match="LIBRELANE_RUNTIME must be container or native"):
        Settings.from_env({**MINIMAL, "LIBRELANE_RUNTIME": "docker"})
    with pytest.raises(ConfigError, match="LIBRELANE_PYTHON must be an absolute path"):
        Settings.from_env({**MINIMAL, "LIBRELANE_RUNTIME": "native", "LIBRELANE_PYTHON": "python3"})
    with pytest.raises(ConfigError, match=r"librelane-osu035.*need LIBRELANE_RUNTIME=native"):
        Settings.from_env({**MINIMAL, "EXTRA_FLOWS": "librelane-osu035"})


def test_the_load_test_flow_is_offered_by_the_local_stack_only() -> None:
    local = Settings.from_env({**MINIMAL, "OLC_ENV": "local", "EXTRA_FLOWS": "yosys-osu035,load-test"})
    assert local.offered_flows == ("qflow-osu035", "yosys-osu035", "load-test")
    with pytest.raises(ConfigError, match=r"EXTRA_FLOWS names \['load-test'\], which only the local stack offers"):
        Settings.from_env({**MINIMAL, "EXTRA_FLOWS": "load-test"})
