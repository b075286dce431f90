"""The deployment's build and lint files, offline: cloudbuild.yaml and the Singularity build files parse, declare
every substitution they use and run only scripts that exist; the images they build are the ones shared/config.py
expects; checkov passes on terraform/ with a written reason for every skipped check.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from shared.config import Settings

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
CHECKOV_PIN = "checkov==3.3.30"  # keep in step with the Makefile's lint target and cloudbuild.yaml


# ------------------------------------------------------------------------------------- Cloud Build and images
BUILD_FILES = ["cloudbuild.yaml", "singularity/singularitybuilder.yaml", "singularity/containerbuilder.yaml"]
BUILTIN_SUBSTITUTIONS = {
    "PROJECT_ID",
    "PROJECT_NUMBER",
    "BUILD_ID",
    "LOCATION",
    "TRIGGER_NAME",
    "COMMIT_SHA",
    "SHORT_SHA",
    "REVISION_ID",
    "BRANCH_NAME",
    "TAG_NAME",
    "REPO_NAME",
    "REPO_FULL_NAME",
    "SERVICE_ACCOUNT",
    "SERVICE_ACCOUNT_EMAIL",
}


def substitutions_used(text: str) -> set[str]:
    """$_FOO / ${_FOO} and built-ins, ignoring $$-escaped shell variables."""
    text = text.replace("$$", "")
    return set(re.findall(r"\$\{?(_[A-Z0-9_]+|[A-Z][A-Z0-9_]+)\}?", text))


@pytest.mark.parametrize("path", BUILD_FILES)
def test_build_files_parse_and_declare_every_substitution(path: str) -> None:
    config = yaml.safe_load((REPO / path).read_text())
    assert isinstance(config, dict) and config.get("steps"), f"{path}: no steps"
    body = yaml.safe_dump({k: v for k, v in config.items() if k != "substitutions"})
    used = substitutions_used(body)
    declared = set(config.get("substitutions") or {})
    user_used = {s for s in used if s.startswith("_")}
    assert user_used <= declared, f"{path}: substitutions used but not declared: {sorted(user_used - declared)}"
    assert declared <= user_used, f"{path}: substitutions declared but unused: {sorted(declared - user_used)}"
    assert used - user_used <= BUILTIN_SUBSTITUTIONS, (
        f"{path}: unknown built-ins {sorted(used - user_used - BUILTIN_SUBSTITUTIONS)}"
    )
    ids = {step.get("id") for step in config["steps"]}
    for step in config["steps"]:
        assert step.get("name"), f"{path}: a step without an image"
        for wait in step.get("waitFor", []):
            assert wait == "-" or wait in ids, f"{path}: waitFor {wait} is no step id"


@pytest.mark.parametrize("path", BUILD_FILES)
def test_build_files_run_only_repo_files_that_exist(path: str) -> None:
    config = yaml.safe_load((REPO / path).read_text())
    defaults = {k: str(v) for k, v in (config.get("substitutions") or {}).items()}
    text = yaml.safe_dump(config["steps"])
    for key, value in defaults.items():
        text = text.replace("${" + key + "}", value).replace("$" + key, value)
    referenced = set(
        re.findall(r"(?<![\w/.-])((?:infra|singularity|terraform|tests|shared|functions)/[\w./-]*\w)", text)
    )
    referenced |= set(re.findall(r"(?<![\w/.-])(requirements(?:-dev)?\.txt)", text))
    if path != "singularity/singularitybuilder.yaml":  # that one builds from a generated Dockerfile only
        assert referenced, f"{path}: references no repo file?"
    missing = sorted(r for r in referenced if not (REPO / r).exists())
    assert not missing, f"{path}: references missing repo paths {missing}"
    for script in (r for r in referenced if r.endswith(".sh")):
        assert (REPO / script).stat().st_mode & 0o111, f"{script} is not executable"


def test_containerbuilder_builds_every_definition_it_allows() -> None:
    text = (REPO / "singularity" / "containerbuilder.yaml").read_text()
    config = yaml.safe_load(text)
    cases = re.search(r'case "\$\{_IMAGE\}" in\s+([\w |]+)\)', text)
    assert cases, "containerbuilder.yaml no longer checks _IMAGE"
    allowed = set(cases.group(1).replace(" ", "").split("|"))
    assert allowed == {p.stem for p in (REPO / "singularity").glob("*.def")}
    assert config["substitutions"]["_IMAGE"] in allowed
    place = (REPO / "infra" / "place_image.sh").read_text()
    assert all(name in place for name in allowed)
    for field_name, name in (("openlane_image", "openlane"), ("librelane_image", "librelane")):
        assert Settings.__dataclass_fields__[field_name].default == f"/apps/{name}/{name}.sif"


# --------------------------------------------------------------------------------------------------- checkov
def checkov_binary() -> str:
    if CHECKOV.exists():
        return str(CHECKOV)
    found = shutil.which("checkov")
    if found:
        return found
    pytest.fail(
        f"checkov is not installed: expected {CHECKOV.relative_to(REPO)} (`make lint` creates .venv-checkov and "
        f"installs {CHECKOV_PIN} there, apart from the pinned runtime packages) or `checkov` on PATH"
    )


def test_checkov_reports_no_failed_checks() -> None:
    result = subprocess.run(
        [
            checkov_binary(),
            "-d",
            str(TERRAFORM),
            "--quiet",
            "--compact",
            "--skip-download",
            "--framework",
            "terraform",
            "secrets",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, "LOG_LEVEL": "ERROR"},  # quiet the "cannot load remote module" warnings (offline)
    )
    start = result.stdout.find("[") if result.stdout.lstrip().startswith("[") else result.stdout.find("{")
    assert start >= 0, f"checkov printed no report (exit {result.returncode}):\n{result.stderr[-2000:]}"
    reports = json.loads(result.stdout[start:])
    reports = reports if isinstance(reports, list) else [reports]
    failed, unexplained = [], []
    for report in reports:
        results = report.get("results", {})
        failed += [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in results.get("failed_checks", [])]
        for check in results.get("skipped_checks", []):
            reason = (check.get("check_result") or {}).get("suppress_comment", "")
            if len(reason.strip()) < 10:
                unexplained.append(f"{check['check_id']} {check['resource']}")
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert not unexplained, "checkov checks skipped without a written reason:\n" + "\n".join(unexplained)
