"""The login-node submit script's per-batch work (shared/domain/slurm_commands.py), run by bash against stand-ins
for squeue and sbatch: one squeue for the batch's own names, one mkdir for every job folder, and sbatch's answer read
from files (its id from stdout even when it warns on stderr), leaving no temporary file behind."""

from __future__ import annotations

import subprocess
from pathlib import Path

from shared.domain.slurm import SlurmSubmission
from shared.domain.slurm_commands import parse_submit_output, submit_script

JOBS = ["j" + c * 19 for c in "abcd"]


def stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)


def run(tmp_path: Path, submissions: list[SlurmSubmission]) -> subprocess.CompletedProcess[str]:
    temp = tmp_path / "tmp"
    temp.mkdir(exist_ok=True)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "STATE": str(tmp_path / "state"), "TMPDIR": str(temp)}
    script = submit_script(str(tmp_path / "jobs"), submissions)
    return subprocess.run(["bash", "-s"], input=script, env=env, capture_output=True, text=True, check=False)


def stand_ins(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "state").mkdir()
    # squeue: records its arguments; lists the jobs in $STATE/known ("name id" lines).
    stub(tmp_path / "bin", "squeue", 'echo "$@" > "$STATE/squeue-args"\ncat "$STATE/known" 2>/dev/null\nexit 0\n')
    # sbatch: the batch script lands in its --chdir (which must exist); a warning on stderr, the id on stdout.
    stub(
        tmp_path / "bin",
        "sbatch",
        "for a; do case $a in --chdir=*) d=${a#--chdir=};; esac; done\n"
        'cat > "$d/batch.sh" || exit 1\n'
        'n=$(cat "$STATE/next" 2>/dev/null || echo 500); echo $((n + 1)) > "$STATE/next"\n'
        'echo "sbatch: warning: can\'t run 1 processes on 2 nodes, setting nnodes to 1" >&2\n'
        'echo "$n;cluster"\n',
    )


def test_each_new_job_is_submitted_once_with_its_id_and_known_ones_are_skipped(tmp_path: Path) -> None:
    stand_ins(tmp_path)
    (tmp_path / "state" / "known").write_text(f"olc-{JOBS[1]} 77\n")
    subs = [SlurmSubmission(job_id, f"#!/bin/bash\necho {job_id} '$HOME'\n") for job_id in JOBS]

    done = run(tmp_path, subs)

    assert done.returncode == 0, done.stderr
    accepted, errors = parse_submit_output(done.stdout)
    assert accepted == {JOBS[0]: "500", JOBS[1]: "77", JOBS[2]: "501", JOBS[3]: "502"} and errors == {}
    for sub in subs:
        batch = tmp_path / "jobs" / sub.job_id / "batch.sh"
        assert batch.read_text() == sub.script if sub.job_id != JOBS[1] else not batch.exists()
    # One listing, of this batch's own names only.
    args = (tmp_path / "state" / "squeue-args").read_text().split()
    assert f"--name={','.join('olc-' + j for j in JOBS)}" in args and "all" in args
    assert list((tmp_path / "tmp").iterdir()) == []  # sbatch's answers went to files that are gone


def test_a_refusal_reports_what_sbatch_printed_on_both_streams(tmp_path: Path) -> None:
    stand_ins(tmp_path)
    stub(
        tmp_path / "bin",
        "sbatch",
        'cat > /dev/null\necho "sbatch: error: Batch job submission failed:"\necho "Invalid account" >&2\nexit 1\n',
    )
    done = run(tmp_path, [SlurmSubmission(JOBS[0], "#!/bin/bash\ntrue\n")])
    assert done.returncode == 0, done.stderr
    assert parse_submit_output(done.stdout) == (
        {},
        {JOBS[0]: "sbatch: error: Batch job submission failed: Invalid account"},
    )


def test_nothing_is_submitted_when_a_job_folder_cannot_be_made(tmp_path: Path) -> None:
    stand_ins(tmp_path)
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / JOBS[1]).write_text("a file where the folder should be")

    done = run(tmp_path, [SlurmSubmission(job_id, "#!/bin/bash\ntrue\n") for job_id in JOBS[:2]])

    assert done.returncode == 3 and "OLC-ABORT" in done.stderr
    assert parse_submit_output(done.stdout) == ({}, {})
    assert not (tmp_path / "state" / "next").exists()  # sbatch never ran
