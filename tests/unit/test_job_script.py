"""The Slurm batch script (real template, real job kit), the job kit on its own, and the login-node scripts."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import os
import re
import signal
import subprocess
import tarfile
import threading
import time
import zipfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shared.domain.design import DesignSpec, Resources
from shared.domain.flows.base import FlowPlan, FlowStage
from shared.domain.flows.qflow import QflowOsu035Runner
from shared.domain.job import Job, JobState, SourceObject, new_job
from shared.domain.job_script import (
    KIT_END_MARKER,
    ClusterTarget,
    RenderError,
    kit_spec,
    render_job_script,
)
from shared.domain.outcome import decide_outcome, parse_manifest
from shared.domain.slurm import SlurmJobStatus, SlurmSubmission
from shared.domain.slurm_commands import (
    UnsafeValue,
    cancel_script,
    parse_status_output,
    parse_submit_output,
    status_script,
    submit_script,
)
from shared.domain.upload import job_id_for, results_prefix
from tests.unit.render_script import RENDER_SCRIPT

SLURM_DIR = Path(__file__).resolve().parents[2] / "infra" / "slurm"
TEMPLATE = (SLURM_DIR / "job.sh.tmpl").read_text()
KIT_SOURCE = (SLURM_DIR / "olc_job.py").read_text()
T0 = datetime(2025, 1, 1, tzinfo=UTC)
TARGET = ClusterTarget(
    partition="debug",
    results_bucket="results",
    storage_endpoint="http://storage.local:4443",
    storage_auth="none",
    hook_url="http://hook.local:8080/",
    hook_auth="none",
)
SPEC_LINE = re.compile(r"<<'OLC_SPEC_END'\n([A-Za-z0-9+/=]+)\nOLC_SPEC_END\n")

# Everything a shell would act on, each carrying the word CANARY so a leak is easy to find.
NASTY = (
    "$(touch CANARY_subst)",
    "`touch CANARY_backtick`",
    "x; touch CANARY_semicolon",
    "x\ntouch CANARY_newline",
    "-CANARY_leading_dash",
    "../CANARY_dotdot",
    "'\"CANARY_quotes\"'",
    f"x\n{KIT_END_MARKER}\ntouch CANARY_marker",
)


def make_job(name: str = "ada@example.com/spm.tar.gz", *, root: str = "spm/", design: DesignSpec | None = None) -> Job:
    source = SourceObject("designs", name, 1741064767890123)
    job_id = job_id_for(source)
    design = design or DesignSpec("spm", "spm", ("src/spm.v",), clock_port="clk")
    return new_job(
        job_id=job_id,
        owner="ada@example.com",
        source=source,
        at=T0,
        design_name=design.design_name,
        flow="qflow-osu035",
        design_root=root,
        design=design,
        resources=Resources(cpus=4, memory_mb=8192, time_limit_minutes=90),
        results_prefix=results_prefix("ada@example.com", job_id),
    )


def nasty_plan() -> FlowPlan:
    stages = tuple(
        FlowStage(name=f"stage {text}", argv=("sh", "-c", text, text), cwd=text, env={"V": text}) for text in NASTY
    )
    return FlowPlan(runner="nasty", stages=stages, artifacts=NASTY, metrics_files=NASTY)


def render(job: Job, plan: FlowPlan | None = None, resources: Resources | None = None, target: ClusterTarget = TARGET):
    plan = plan or QflowOsu035Runner(render_script=RENDER_SCRIPT).plan(job.design, job.resources)  # type: ignore[arg-type]
    spec = kit_spec(job, plan, target, "k" * 64)
    return render_job_script(TEMPLATE, KIT_SOURCE, job, resources or job.resources, spec, target), spec


def decoded_spec(script: str) -> dict[str, Any]:
    (encoded,) = SPEC_LINE.findall(script)
    return json.loads(base64.b64decode(encoded))


def without_spec(script: str) -> str:
    (encoded,) = SPEC_LINE.findall(script)
    return script.replace(encoded, "")


def bash_syntax_ok(script: str) -> None:
    done = subprocess.run(["bash", "-n"], input=script, text=True, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


# ----------------------------------------------------------------------------------------- batch script
def test_render_fills_every_placeholder_and_is_valid_bash() -> None:
    job = make_job()
    script, spec = render(job)
    assert "{{" not in script and "}}" not in script
    bash_syntax_ok(script)
    assert decoded_spec(script) == spec
    for line in (
        f"#SBATCH --job-name=olc-{job.id}",
        f"#SBATCH --comment=olc:{job.id}",
        "#SBATCH --partition=debug",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=8192M",
        "#SBATCH --time=90",
    ):
        assert line in script.splitlines()


def test_the_kit_is_embedded_unchanged() -> None:
    script, _ = render(make_job())
    start = script.index(f"<<'{KIT_END_MARKER}'\n") + len(f"<<'{KIT_END_MARKER}'\n")
    end = script.index(f"\n{KIT_END_MARKER}\n", start)
    assert script[start:end] == KIT_SOURCE.rstrip("\n")
    assert script.count(f"\n{KIT_END_MARKER}\n") == 1


def test_spec_describes_the_run() -> None:
    job = make_job()
    _, spec = render(job)
    assert spec["job_id"] == job.id
    assert spec["design"] == {
        "bucket": "designs",
        "name": "ada@example.com/spm.tar.gz",
        "generation": 1741064767890123,
        "root": "spm/",
    }
    assert spec["results"] == {"bucket": "results", "prefix": f"ada@example.com/{job.id}/"}
    assert spec["hook"] == {"url": "http://hook.local:8080/", "auth": "none", "key": "k" * 64}
    assert [s["name"] for s in spec["stages"]][:2] == ["prepare", "synthesis"]
    assert spec["heartbeat_s"] == 20.0
    assert all(isinstance(s["argv"], list) for s in spec["stages"])


@pytest.mark.parametrize("use_qflow", [True, False], ids=["qflow-plan", "hand-made-plan"])
def test_user_values_only_travel_inside_the_base64_spec(use_qflow: bool) -> None:
    nasty = "".join(NASTY)
    design = DesignSpec(
        design_name=nasty,
        top_module="spm",
        verilog_files=tuple(f"src/{text}.v" for text in NASTY),
        clock_port="clk",
        flow_variables={"DESIGN_NAME": nasty, "EXTRA": list(NASTY)},
    )
    job = make_job(f"ada@example.com/{nasty}.tar.gz", root=f"{nasty}/", design=design)
    script, spec = render(job, None if use_qflow else nasty_plan())
    decoded = decoded_spec(script)
    assert decoded == spec
    assert decoded["design"]["name"] == f"ada@example.com/{nasty}.tar.gz"
    assert "CANARY" not in without_spec(script)
    bash_syntax_ok(script)


def run_script(script: str, work: Path, bin_dir: Path, out: Path, slurm_job_id: str) -> subprocess.CompletedProcess:
    (work / "job.sh").write_text(script)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "OUT": str(out), "SLURM_JOB_ID": slurm_job_id}
    return subprocess.run(["bash", "job.sh"], cwd=work, env=env, capture_output=True, text=True, check=False)


# A stand-in python3: records its arguments, the kit file in the folder it was given (the last argument) and the spec.
PYTHON_STUB = 'for a; do kit=$a; done; cat "$kit/olc_job.py" > "$OUT/kit"; cat "$OLC_JOB_SPEC_FILE" > "$OUT/spec"; \
printf "%s\\n" "$@" > "$OUT/args"\n'


def test_running_the_script_hands_the_kit_and_spec_to_python_and_nothing_else(tmp_path: Path) -> None:
    """Run the rendered script with a stand-in python3: it must receive the kit as a file named by its digest beside
    the job folders and the spec in the file $OLC_JOB_SPEC_FILE, and none of the nasty values may have been executed
    by the shell."""
    nasty = "".join(NASTY)
    job = make_job(f"ada@example.com/{nasty}.tar.gz", root=f"{nasty}/")
    script, spec = render(job, nasty_plan())
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    work = root / job.id
    bin_dir.mkdir()
    work.mkdir(parents=True)
    stub(bin_dir, "python3", PYTHON_STUB)
    done = run_script(script, work, bin_dir, tmp_path, "77")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "kit").read_text() == KIT_SOURCE.rstrip("\n") + "\n"
    assert json.loads(base64.b64decode((tmp_path / "spec").read_text())) == spec
    digest = hashlib.sha256(KIT_SOURCE.encode()).hexdigest()[:16]
    unbuffered, code, command, kit_dir = (tmp_path / "args").read_text().splitlines()
    assert (unbuffered, code, kit_dir) == ("-u", "-c", str(root / ".olc-kit" / digest))
    assert "import olc_job" in command and "run_and_exit()" in command
    assert not [p for p in tmp_path.rglob("*") if "CANARY" in p.name]
    assert not list(work.glob(".olc-kit*"))  # the run's own copy went to the shared place


def test_later_runs_reuse_the_kit_file_and_its_bytecode(tmp_path: Path) -> None:
    """The kit file is written once per kit version: a later run leaves it (and Python's cached bytecode beside it,
    validated by the file's time) as it is, and the real interpreter runs the kit from it."""
    script, _ = render(make_job())
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    bin_dir.mkdir()
    stub(bin_dir, "python3", PYTHON_STUB)
    first, second = root / "first", root / "second"
    first.mkdir(parents=True)
    second.mkdir()
    assert run_script(script, first, bin_dir, tmp_path, "1").returncode == 0
    (kit_file,) = (root / ".olc-kit").glob("*/olc_job.py")
    written = kit_file.stat().st_mtime_ns
    os.utime(kit_file, ns=(written - 10**9, written - 10**9))
    assert run_script(script, second, bin_dir, tmp_path, "2").returncode == 0
    assert kit_file.stat().st_mtime_ns == written - 10**9
    # The real interpreter imports the kit from that folder (and would run it with run_and_exit).
    imported = subprocess.run(
        [
            "python3",
            "-c",
            "import sys; sys.path[0] = sys.argv.pop(); import olc_job; print(olc_job.run_and_exit)",
            str(kit_file.parent),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"},
    )
    assert "run_and_exit" in imported.stdout
    assert list(kit_file.parent.glob("__pycache__/olc_job.*.pyc"))


def test_a_run_that_cannot_write_beside_the_job_folders_runs_its_own_copy(tmp_path: Path) -> None:
    script, _ = render(make_job())
    bin_dir, root = tmp_path / "bin", tmp_path / "root"
    work = root / "job"
    bin_dir.mkdir()
    work.mkdir(parents=True)
    (root / ".olc-kit").write_text("not a folder")  # mkdir -p of the shared place fails
    stub(bin_dir, "python3", PYTHON_STUB)
    done = run_script(script, work, bin_dir, tmp_path, "9")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "args").read_text().splitlines()[-1] == str(work / ".olc-kit-9")
    assert (tmp_path / "kit").read_text() == KIT_SOURCE.rstrip("\n") + "\n"


@pytest.mark.parametrize("partition", ["", "debug; rm -rf /", "$(id)", "a b", "-p", "x" * 65])
def test_bad_partition_is_refused(partition: str) -> None:
    with pytest.raises(RenderError, match="partition"):
        render(make_job(), target=replace(TARGET, partition=partition))


@pytest.mark.parametrize("job_id", ["", "j123", "J0123456789ABCDEF012", "j0123456789abcdef012;x", "../x", "$(id)"])
def test_a_job_id_we_did_not_generate_is_refused(job_id: str) -> None:
    job = make_job()
    spec = kit_spec(job, nasty_plan(), TARGET, "k")
    with pytest.raises(RenderError, match="job id"):
        render_job_script(TEMPLATE, KIT_SOURCE, replace(job, id=job_id), job.resources, spec, TARGET)


@pytest.mark.parametrize(
    "resources",
    [
        Resources(cpus=0),
        Resources(cpus=-1),
        Resources(memory_mb=0),
        Resources(time_limit_minutes=0),
        Resources(cpus=1.5),
    ],  # type: ignore[arg-type]
)
def test_non_positive_or_fractional_resources_are_refused(resources: Resources) -> None:
    with pytest.raises(RenderError, match="resource request"):
        render(make_job(), resources=resources)


def test_a_kit_containing_the_end_marker_is_refused() -> None:
    job = make_job()
    spec = kit_spec(job, nasty_plan(), TARGET, "k")
    with pytest.raises(RenderError, match="end marker"):
        render_job_script(TEMPLATE, f"print(1)\n  {KIT_END_MARKER}  \n", job, job.resources, spec, TARGET)


def test_unknown_placeholder_and_missing_pieces_are_refused() -> None:
    job = make_job()
    spec = kit_spec(job, nasty_plan(), TARGET, "k")
    with pytest.raises(RenderError, match="unknown placeholder"):
        render_job_script(TEMPLATE + "{{user_value}}\n", KIT_SOURCE, job, job.resources, spec, TARGET)
    with pytest.raises(RenderError, match="no results bucket"):
        render_job_script(TEMPLATE, KIT_SOURCE, job, job.resources, {**spec, "results": {}}, TARGET)
    with pytest.raises(RenderError, match="no results prefix"):
        kit_spec(replace(job, results_prefix=None), nasty_plan(), TARGET, "k")


# -------------------------------------------------------------------------------- the job kit, locally
def load_kit() -> ModuleType:
    spec = importlib.util.spec_from_file_location("olc_job_under_test", SLURM_DIR / "olc_job.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def design_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class KitHarness:
    """Runs the kit's Run in a temp dir with Cloud Storage and the hook replaced by recorders."""

    def __init__(
        self, tmp_path: Path, archive: bytes, stages: list[dict[str, Any]], heartbeat_s: float | None = None
    ) -> None:
        kit = load_kit()
        self.uploads: dict[str, bytes] = {}
        self.reports: list[dict[str, Any]] = []
        spec = {
            "job_id": "j0123456789abcdef012",
            "design": {"bucket": "designs", "name": "a@b.c/d.tar.gz", "generation": 1, "root": "spm/"},
            "results": {"bucket": "results", "prefix": "a@b.c/j0123456789abcdef012/"},
            "storage": {"endpoint": "http://unused", "auth": "none"},
            "hook": {"url": "http://unused", "auth": "none", "key": "k"},
            "stages": stages,
            "artifacts": ["out/*.txt"],
            "metrics_files": [],
        }
        if heartbeat_s is not None:
            spec["heartbeat_s"] = heartbeat_s
        self.run = kit.Run(spec, str(tmp_path))
        uploads = self.uploads

        class Storage:
            def download(self, bucket: str, name: str, generation: int, path: str) -> None:
                Path(path).write_bytes(archive)

            def upload(self, bucket: str, name: str, path: str, content_type: str = "") -> None:
                uploads[f"{bucket}/{name}"] = Path(path).read_bytes()

        self.run.storage = Storage()
        self.run.hook.report = self.reports.append

    def execute(self) -> tuple[int, dict[str, Any]]:
        code = self.run.execute()
        return code, json.loads(self.uploads["results/a@b.c/j0123456789abcdef012/manifest.json"])


def corrupt_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("spm/config.json", "{}")
        archive.writestr("spm/src/spm.v", "module spm; endmodule\n" * 500)
    data = bytearray(buf.getvalue())
    start = data.index(b"spm/src/spm.v") + 20  # inside the deflated data, past the local header
    data[start : start + 40] = bytes(b ^ 0x55 for b in data[start : start + 40])
    return bytes(data)


CORRUPT_ZIP = corrupt_zip()
SPM_ARCHIVE = design_tar({"spm/config.json": b"{}", "spm/src/spm.v": b"module spm; endmodule\n", "other/x": b"x"})


def test_kit_runs_the_stages_and_writes_a_manifest_the_service_reads(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("OLC_JOB_SPEC", "secret-hook-key-inside")
    monkeypatch.setenv("OLC_SCRIPT_STARTED_AT", "1796630000.25")  # the batch script's `date +%s.%N`
    stages = [
        {"name": "copy", "argv": ["sh", "-c", "mkdir -p out && cp design/src/spm.v out/spm.txt"]},
        {"name": "env", "argv": ["sh", "-c", 'echo "spec=${OLC_JOB_SPEC:-unset} v=$V"'], "env": {"V": "1"}},
    ]
    harness = KitHarness(tmp_path, SPM_ARCHIVE, stages)
    code, manifest = harness.execute()
    assert code == 0
    assert (manifest["flow_exit_code"], manifest["failed_stage"], manifest["stage_reached"]) == (0, None, "env")
    assert sorted(manifest["files"]) == ["logs/01-copy.log", "logs/02-env.log", "out/spm.txt"]
    prefix = "results/a@b.c/j0123456789abcdef012/files/"
    assert harness.uploads[prefix + "out/spm.txt"] == b"module spm; endmodule\n"
    # Stages run design-controlled tools: they must not see the spec (it holds the hook key).
    assert harness.uploads[prefix + "logs/02-env.log"] == b"spec=unset v=1\n"
    # Each stage as it starts, then the last stage's final lines once more.
    assert [r["stage"] for r in harness.reports] == ["fetching design", "copy", "env", "env"]
    assert harness.reports[-1] == {"kind": "progress", "stage": "env", "log_tail": "spec=unset v=1"}
    assert not (tmp_path / "work").exists()  # cleaned after success
    parsed = parse_manifest(json.dumps(manifest))
    assert decide_outcome("COMPLETED", parsed, 50).state is JobState.SUCCEEDED
    # When each phase ended, in the order the run went through them (bench/latency.py's breakdown).
    timings = manifest["timings"]
    phases = ["kit_started_at", "design_fetched_at", "stages_ended_at", "results_uploaded_at"]
    assert timings["script_started_at"] == 1796630000.25
    assert [timings[p] for p in phases] == sorted(timings[p] for p in phases)


def test_the_run_ends_after_its_last_reports_with_the_manifest_already_up(tmp_path: Path) -> None:
    """Behind a slow hook the manifest (the last upload) goes up while the last progress reports are still on their
    way, but the run, whose exit brings the epilog's end report, ends only once they were delivered."""
    harness = KitHarness(tmp_path, SPM_ARCHIVE, [{"name": "copy", "argv": ["sh", "-c", "echo copied"]}])
    events: list[tuple[str, str]] = []
    storage_upload = harness.run.storage.upload

    def upload(bucket: str, name: str, path: str, content_type: str = "") -> None:
        storage_upload(bucket, name, path, content_type)
        events.append(("upload", name.rsplit("/", 1)[-1]))

    def deliver(fields: dict[str, Any]) -> None:
        time.sleep(0.1)
        events.append(("report", fields["stage"]))

    harness.run.storage.upload = upload
    hook = harness.run.hook = load_kit().Hook({"url": "http://unused", "key": "k"}, "j0123456789abcdef012")
    hook._deliver = deliver
    code, _ = harness.execute()
    assert code == 0
    uploads = [name for kind, name in events if kind == "upload"]
    assert uploads[-1] == "manifest.json" and len(uploads) == 2
    assert events[-1][0] == "report", events  # the manifest did not wait for the reports ...
    reports = [name for kind, name in events if kind == "report"]
    assert reports[0] == "fetching design" and set(reports[1:]) == {"copy"}  # ... the run did


def test_kit_reports_the_failing_stage_with_an_excerpt(tmp_path: Path) -> None:
    stages = [
        {"name": "synthesis", "argv": ["sh", "-c", "echo working; echo 'ERROR: no top module' >&2; exit 3"]},
        {"name": "routing", "argv": ["sh", "-c", "touch never"]},
    ]
    harness = KitHarness(tmp_path, SPM_ARCHIVE, stages)
    code, manifest = harness.execute()
    assert code == 1
    assert (manifest["flow_exit_code"], manifest["failed_stage"]) == (3, "synthesis")
    assert "ERROR: no top module" in manifest["error_excerpt"]
    assert [r["stage"] for r in harness.reports] == ["fetching design", "synthesis", "synthesis"]
    assert harness.reports[-1]["log_tail"] == "working\nERROR: no top module"
    outcome = decide_outcome("COMPLETED", parse_manifest(json.dumps(manifest)), 50)
    assert outcome is not None and outcome.state is JobState.FAILED
    assert "'synthesis'" in (outcome.reason or "")
    assert (tmp_path / "work").exists()  # kept for a look after a failure


def test_kit_reports_the_running_stages_log_tail_every_heartbeat(tmp_path: Path) -> None:
    script = "for i in 1 2 3 4 5 6; do echo line $i; sleep 0.1; done"
    harness = KitHarness(tmp_path, SPM_ARCHIVE, [{"name": "routing", "argv": ["sh", "-c", script]}], heartbeat_s=0.05)
    code, _ = harness.execute()
    assert code == 0
    beats = [r for r in harness.reports if r["stage"] == "routing" and "log_tail" in r]
    assert len(beats) >= 4, harness.reports
    assert all(b["kind"] == "progress" for b in beats)
    tails = [b["log_tail"] for b in beats]
    assert any(t.startswith("line 1") and not t.endswith("line 6") for t in tails[:-1]), "no tail while running"
    assert tails[-1] == "\n".join(f"line {i}" for i in range(1, 7))


def test_a_quiet_stage_sends_no_heartbeat_without_news(tmp_path: Path) -> None:
    """A run whose log does not move (a long tool step, a load test's sleep) reports its tail once, not every
    heartbeat: a thousand such runs would keep the hook and Firestore busy with no news."""
    stage = {"name": "hold", "argv": ["sh", "-c", "echo holding; sleep 0.6"]}
    harness = KitHarness(tmp_path, SPM_ARCHIVE, [stage], heartbeat_s=0.05)
    code, _ = harness.execute()
    assert code == 0
    beats = [r for r in harness.reports if "log_tail" in r]
    assert [b["log_tail"] for b in beats] == ["holding"]


def test_a_stopped_run_reports_no_more_heartbeats(tmp_path: Path) -> None:
    """Cancel or time limit: the kit stops the stage and spends its last seconds on the results, not on reports."""
    stage = {"name": "placement", "argv": ["sh", "-c", "echo placing; sleep 30"]}
    harness = KitHarness(tmp_path, SPM_ARCHIVE, [stage], heartbeat_s=0.05)
    stopper = threading.Timer(0.5, harness.run.on_terminate, args=(signal.SIGTERM, None))
    stopper.start()
    code, manifest = harness.execute()
    stopper.join()
    assert (code, manifest["terminated"], manifest["failed_stage"]) == (143, True, "placement")
    beats = [r for r in harness.reports if "log_tail" in r]
    assert beats and all(b["log_tail"] == "placing" for b in beats)
    assert harness.reports[-1] == beats[-1]  # nothing after the stop
    assert len(beats) <= 0.5 / 0.05 + 2


def test_the_kits_log_tail_is_bounded_like_the_service_bounds_it(tmp_path: Path) -> None:
    kit = load_kit()
    log = tmp_path / "stage.log"
    log.write_text("".join(f"{i:05d} " + "x" * 150 + "\n" for i in range(500)))
    tail = kit.log_tail(str(log))
    lines = tail.split("\n")
    assert len(tail) <= 4000 and len(lines) <= 40
    assert lines[-1].startswith("00499 ")
    assert all(len(line) == 156 for line in lines[1:])  # only the first line may be cut
    log.write_bytes(b"caf\xc3\xa9 \xff\n")
    assert kit.log_tail(str(log)) == "caf\u00e9 \ufffd"
    assert kit.log_tail(str(tmp_path / "missing.log")) == ""


@pytest.mark.parametrize(
    "archive",
    [
        SPM_ARCHIVE[: len(SPM_ARCHIVE) - 30],  # truncated: gzip raises EOFError
        SPM_ARCHIVE[:10] + bytes(len(SPM_ARCHIVE) - 10),  # corrupt gzip data
        CORRUPT_ZIP,  # zlib raises zlib.error
        b"not an archive at all",
    ],
    ids=["truncated", "corrupt-gzip", "corrupt-zip", "junk"],
)
def test_kit_turns_a_broken_download_into_a_setup_failure(tmp_path: Path, archive: bytes) -> None:
    code, manifest = KitHarness(tmp_path, archive, [{"name": "never", "argv": ["false"]}]).execute()
    assert code == 1
    assert (manifest["flow_exit_code"], manifest["failed_stage"]) == (1, "setup")
    assert manifest["error_excerpt"]


def test_kit_refuses_unsafe_archive_paths(tmp_path: Path) -> None:
    archive = design_tar({"spm/config.json": b"{}", "spm/../../evil.v": b"x"})
    code, manifest = KitHarness(tmp_path, archive, []).execute()
    assert (code, manifest["failed_stage"]) == (1, "setup")
    assert "unsafe path" in manifest["error_excerpt"]
    assert not (tmp_path.parent / "evil.v").exists()


# --------------------------------------------------------------------------------- login-node scripts
JOB_A = "j" + "a" * 19
JOB_B = "j" + "b" * 19


def submissions() -> list[SlurmSubmission]:
    scripts = [render(make_job(f"ada@example.com/{n}.tar.gz"))[0] for n in ("a", "b")]
    return [SlurmSubmission(JOB_A, scripts[0]), SlurmSubmission(JOB_B, scripts[1] + "echo 'quoted $HOME `x`'\n")]


def test_submit_script_is_valid_bash_and_carries_each_script_intact() -> None:
    subs = submissions()
    remote = submit_script("/home/olc/jobs dir", subs)
    bash_syntax_ok(remote)
    assert "root='/home/olc/jobs dir'" in remote
    for sub in subs:
        opener = f"<<'OLC_SCRIPT_{sub.job_id}'\n"
        start = remote.index(opener) + len(opener)
        end = remote.index(f"\nOLC_SCRIPT_{sub.job_id}\n", start)
        assert remote[start:end] == sub.script.rstrip("\n")


def test_submit_script_runs_against_stand_in_slurm_commands(tmp_path: Path) -> None:
    """sbatch/squeue replaced by stubs: new jobs are submitted, known ones skipped, errors reported per job."""
    bin_dir, root = tmp_path / "bin", tmp_path / "jobs"
    bin_dir.mkdir()
    # One listing of "name id" per job the user has in Slurm.
    listing = 'for f in "$STATE"/olc-*; do [ -e "$f" ] && echo "$(basename "$f") $(cat "$f")"; done\nexit 0\n'
    stub(bin_dir, "squeue", listing)
    stub(
        bin_dir,
        "sbatch",
        "for a; do case $a in --chdir=*) d=${a#--chdir=};; esac; done\n"
        'cat > "$d/batch.sh"\n'
        'if [ -e "$STATE/refuse-$(basename "$d")" ]; then\n'
        '  echo "sbatch: error: Batch job submission failed:"; echo "Invalid partition name specified" >&2; exit 1\n'
        "fi\n"
        'echo "$(basename "$d" | wc -c);cluster"\n',
    )
    state = tmp_path / "state"
    state.mkdir()
    job_c = "j" + "c" * 19
    (state / f"olc-{JOB_B}").write_text("77\n")  # Slurm already has B
    (state / f"refuse-{job_c}").write_text("")
    subs = [*submissions(), SlurmSubmission(job_c, "#!/bin/bash\ntrue\n")]
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "STATE": str(state)}
    done = subprocess.run(
        ["bash", "-s"], input=submit_script(str(root), subs), env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    accepted, errors = parse_submit_output(done.stdout)
    assert accepted == {JOB_A: "21", JOB_B: "77"}
    assert errors == {job_c: "sbatch: error: Batch job submission failed: Invalid partition name specified"}
    assert (root / JOB_A / "batch.sh").read_text() == subs[0].script
    assert not (root / JOB_B / "batch.sh").exists()


def test_submit_script_submits_nothing_when_slurm_cannot_list_jobs(tmp_path: Path) -> None:
    """Without the listing a resubmission cannot be told from a first one, so nothing may be submitted."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub(bin_dir, "squeue", 'echo "slurm_load_jobs error: Unable to contact slurm controller" >&2\nexit 1\n')
    stub(bin_dir, "sbatch", 'touch "$MARK"\necho 1\n')
    done = subprocess.run(
        ["bash", "-s"],
        input=submit_script(str(tmp_path / "jobs"), submissions()),
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "MARK": str(tmp_path / "sbatch-ran")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3 and "squeue failed" in done.stderr
    assert parse_submit_output(done.stdout) == ({}, {})
    assert not (tmp_path / "sbatch-ran").exists()


def test_submit_script_refuses_a_script_containing_its_marker() -> None:
    evil = SlurmSubmission(JOB_A, f"#!/bin/bash\nOLC_SCRIPT_{JOB_A}\nrm -rf ~\n")
    with pytest.raises(UnsafeValue, match="heredoc marker"):
        submit_script("/jobs", [evil])
    # Another job's marker is harmless and allowed.
    bash_syntax_ok(submit_script("/jobs", [SlurmSubmission(JOB_A, f"echo OLC_SCRIPT_{JOB_B}\nOLC_SCRIPT_{JOB_B}\n")]))


def test_submit_script_refuses_job_ids_we_did_not_generate() -> None:
    with pytest.raises(UnsafeValue):
        submit_script("/jobs", [SlurmSubmission("j1; reboot", "true")])


def test_parse_submit_output() -> None:
    output = "\n".join(
        [
            "Welcome to the login node!",
            f"OLC {JOB_A} submitted 4242",
            f"  OLC {JOB_B} existing 77  ",
            f"OLC j{'c' * 19} error sbatch: error: QOSMaxSubmitJobPerUserLimit ",
            f"OLC j{'d' * 19} submitted ",
            f"OLC j{'e' * 19} submitted Submitted batch job 5",
            "OLC jXYZ submitted 1",  # not one of our ids
            f"olc {JOB_A} submitted 1",
            "",
        ]
    )
    accepted, errors = parse_submit_output(output)
    assert accepted == {JOB_A: "4242", JOB_B: "77"}
    assert errors == {
        f"j{'c' * 19}": "sbatch: error: QOSMaxSubmitJobPerUserLimit",
        f"j{'d' * 19}": "sbatch printed nothing",
        f"j{'e' * 19}": "Submitted batch job 5",
    }


def test_status_and_cancel_scripts() -> None:
    few = status_script(["12", "345"])
    bash_syntax_ok(few)
    assert few == "scontrol show job -o 12 2>/dev/null || true\nscontrol show job -o 345 2>/dev/null || true\n"
    many = status_script(["12", "345", "6", "78"])
    bash_syntax_ok(many)
    assert "ids='12 345 6 78'" in many
    assert cancel_script(["12", "345"]) == "scancel 12 345\n"
    for bad in (["12; reboot"], ["$(id)"], [""], ["-1"], ["12 13"]):
        with pytest.raises(UnsafeValue):
            status_script(bad)
        with pytest.raises(UnsafeValue):
            status_script(["1", "2", "3", *bad])
        with pytest.raises(UnsafeValue):
            cancel_script(bad)


COMPLETED_LINE = " ".join(
    [
        "JobId=4242 JobName=olc-jaaaaaaaaaaaaaaaaaaa UserId=olc(1001) GroupId=olc(1001) MCS_label=N/A Priority=1",
        "Nice=0 Account=(null) QOS=normal JobState=COMPLETED Reason=None Dependency=(null) Requeue=1 Restarts=0",
        "BatchFlag=1 Reboot=0 ExitCode=0:0 RunTime=00:01:05 TimeLimit=00:50:00 TimeMin=N/A",
        "SubmitTime=2025-01-01T10:00:00 EligibleTime=2025-01-01T10:00:00 StartTime=2025-01-01T10:00:01",
        "EndTime=2025-01-01T10:01:06 Partition=debug NodeList=c1 NumNodes=1 NumCPUs=2 NumTasks=1 CPUs/Task=2",
        "TRES=cpu=2,mem=4G,node=1 Comment=olc:jaaaaaaaaaaaaaaaaaaa",
        "StdOut=/home/olc/jobs/jaaaaaaaaaaaaaaaaaaa/slurm-4242.out",
    ]
)
SCONTROL = f"""\
{COMPLETED_LINE}
JobId=4243 JobName=olc-jbbbbbbbbbbbbbbbbbbb JobState=CANCELLED Reason=None ExitCode=0:15 RunTime=1-02:03:04 NumCPUs=1
JobId=4244 JobName=olc-jccccccccccccccccccc JobState=TIMEOUT Reason=TimeLimit ExitCode=0:1 RunTime=00:50:01 NumCPUs=N/A
JobId=4245 JobState=UNKNOWN
slurm_load_jobs error: Invalid job id specified
"""


def test_parse_status_output() -> None:
    statuses = parse_status_output(SCONTROL)
    assert set(statuses) == {"4242", "4243", "4244"}
    assert statuses["4242"] == SlurmJobStatus(
        "4242", "COMPLETED", exit_code="0:0", reason="None", elapsed_s=65.0, cpus=2
    )
    assert statuses["4243"] == SlurmJobStatus(
        "4243", "CANCELLED", exit_code="0:15", reason="None", elapsed_s=93784.0, cpus=1
    )
    assert (statuses["4244"].state, statuses["4244"].reason, statuses["4244"].elapsed_s, statuses["4244"].cpus) == (
        "TIMEOUT",
        "TimeLimit",
        3001.0,
        None,
    )


@pytest.mark.parametrize(
    ("run_time", "seconds"),
    [("00:00:00", 0.0), ("10:00:01", 36001.0), ("INVALID", None), ("1:2", None), ("x-00:00:01", None)],
)
def test_run_time_formats(run_time: str, seconds: float | None) -> None:
    assert parse_status_output(f"JobId=1 JobState=RUNNING RunTime={run_time}")["1"].elapsed_s == seconds


def test_the_status_script_keeps_the_records_of_the_jobs_asked_about(tmp_path: Path) -> None:
    """Past a few ids, one scontrol for all of Slurm's jobs, filtered: a job by its id, an array's tasks by the
    array's id."""
    every_job = (
        "JobId=7 JobName=olc-a JobState=RUNNING Reason=None\n"
        "JobId=70 JobName=olc-b JobState=PENDING Reason=Priority\n"
        "JobId=9 ArrayJobId=9 ArrayTaskId=2-4%2 JobState=PENDING Reason=JobArrayTaskLimit\n"
        "JobId=11 ArrayJobId=9 ArrayTaskId=1 JobState=RUNNING Reason=None\n"
        "JobId=12 ArrayJobId=8 ArrayTaskId=0 JobState=COMPLETED Reason=None Comment=JobId=7\n"
    )
    fake = tmp_path / "scontrol"
    fake.write_text(f"#!/bin/sh\nprintf '%s' '{every_job}'\n")
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    script = status_script(["7", "9", "404", "405"])
    assert script.count("scontrol") == 1
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, check=True)
    found = {(s.slurm_job_id, s.state) for s in parse_status_output(run.stdout).values()}
    assert found == {("7", "RUNNING"), ("9", "PENDING"), ("11", "RUNNING")}


def test_parse_status_output_of_a_job_array() -> None:
    """`scontrol show job -o <array id>` (Slurm 22.05, seen on the local cluster): a record per started task, and one
    for the tasks still waiting, whose ArrayTaskId is a range with the throttle."""
    statuses = parse_status_output(
        "JobId=1 ArrayJobId=1 ArrayTaskId=2-4%2 JobState=PENDING Reason=JobArrayTaskLimit\n"
        "JobId=3 ArrayJobId=1 ArrayTaskId=1 JobState=RUNNING Reason=None\n"
        "JobId=2 ArrayJobId=1 ArrayTaskId=0 JobState=COMPLETED Reason=None\n"
    )
    assert {(s.slurm_job_id, s.array_job_id, s.array_task_id, s.state) for s in statuses.values()} == {
        ("1", "1", None, "PENDING"),
        ("3", "1", 1, "RUNNING"),
        ("2", "1", 0, "COMPLETED"),
    }
    assert parse_status_output("JobId=7 JobState=RUNNING")["7"].array_job_id is None
