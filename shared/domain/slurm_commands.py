"""The remote shell scripts we run on the login node, and parsing what they print.

Only values we generate or validate reach these scripts (job ids matching JOB_ID_PATTERN, numeric Slurm ids, the
configured work root passed through shlex.quote); batch scripts travel as quoted heredocs whose end marker cannot
occur inside them.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from shared.domain.job_script import slurm_job_name
from shared.domain.slurm import SlurmJobStatus, SlurmSubmission
from shared.domain.upload import JOB_ID_PATTERN

_SLURM_ID = re.compile(r"^[0-9]+$")
_RESULT_LINE = re.compile(r"^OLC (?P<job>j[0-9a-f]{19}) (?P<kind>submitted|existing|error) ?(?P<value>.*)$")


class UnsafeValue(ValueError):
    pass


def submit_script(work_root: str, submissions: Sequence[SlurmSubmission]) -> str:
    """One remote shell script that submits every batch script, skipping jobs Slurm already has (a crash
    between sbatch and recording the id must not start a second run), and prints one OLC line per job."""
    job_ids = [_checked_job_id(s.job_id) for s in submissions]
    # Only this batch's names are listed: Slurm remembers every job of the last MinJobAge, thousands after a
    # burst, and reading them all into the table cost as much again as squeue itself.
    names = ",".join(slurm_job_name(job_id, s.batch) for job_id, s in zip(job_ids, submissions, strict=True))
    lines = [
        "set -u",
        f"root={shlex.quote(work_root)}",
        # One submitter at a time per login node: the dispatcher, a search's next batch and the reconciler may
        # submit at once, and two of them could both find a name missing from squeue and both sbatch it.
        'mkdir -p "$root" && exec 9>>"$root/.olc-submit.lock" && flock -w 60 9 '
        '|| { echo "OLC-ABORT submit lock" >&2; exit 3; }',
        # One squeue for the whole batch (one per job cost ~0.1 s each with hundreds queued). If Slurm cannot
        # answer, submit nothing: without it a resubmission could not be told from a first submission.
        # %F: a job array's own id (each of its tasks is listed, as <array id>_<task>, under %i).
        f'listing=$(squeue -h -t all -u "$(id -un)" --name={names or "-"} -o "%j %F") '
        '|| { echo "OLC-ABORT squeue failed" >&2; exit 3; }',
        "declare -A known",
        'while read -r name id; do [ -n "$name" ] && known[$name]=$id; done <<< "$listing"',
    ]
    if job_ids:
        # Per job, only builtins besides sbatch itself: one mkdir for the whole batch, and sbatch's answer read
        # from files rather than through $(...) (a fork per job; with a mkdir each, 40% of the batch's time).
        folders = " ".join(f'"$root/{job_id}"' for job_id in job_ids)
        lines += [
            f'mkdir -p {folders} || {{ echo "OLC-ABORT cannot create the job folders" >&2; exit 3; }}',
            'out_file=$(mktemp) && err_file=$(mktemp) || { echo "OLC-ABORT mktemp" >&2; exit 3; }',
            'trap \'rm -f "$out_file" "$err_file"\' EXIT',
        ]
    for job_id, submission in zip(job_ids, submissions, strict=True):
        marker = f"OLC_SCRIPT_{job_id}"
        if marker in submission.script and any(line.strip() == marker for line in submission.script.splitlines()):
            raise UnsafeValue(f"batch script of {job_id} contains its heredoc marker")
        name = slurm_job_name(job_id, submission.batch)
        lines += [
            f'existing="${{known[{name}]:-}}"',
            'if [ -n "$existing" ]; then',
            f'  echo "OLC {job_id} existing $existing"',
            f'elif sbatch --parsable --chdir="$root/{job_id}" >"$out_file" 2>"$err_file" <<\'{marker}\'',
            submission.script.rstrip("\n"),
            marker,
            "then",
            # --parsable: the id (";cluster" after it) on the first line of stdout; warnings go to stderr.
            f'  read -r out <"$out_file"; echo "OLC {job_id} submitted ${{out%%;*}}"',
            "else",
            f'  echo "OLC {job_id} error $(cat "$out_file" "$err_file" | tr "\\n" " ")"',
            "fi",
        ]
    return "\n".join(lines) + "\n"


def parse_submit_output(output: str) -> tuple[dict[str, str], dict[str, str]]:
    """({job_id: slurm_id} accepted or already present, {job_id: error text})."""
    accepted: dict[str, str] = {}
    errors: dict[str, str] = {}
    for line in output.splitlines():
        match = _RESULT_LINE.match(line.strip())
        if not match:
            continue
        value = match["value"].strip()
        if match["kind"] == "error" or not _SLURM_ID.match(value):
            errors[match["job"]] = value or "sbatch printed nothing"
        else:
            accepted[match["job"]] = value
    return accepted, errors


# Up to this many jobs, the status script asks Slurm about each job by its id (see status_script).
ONE_BY_ONE_UP_TO = 3


def status_script(slurm_job_ids: Sequence[str]) -> str:
    """Slurm's records of these jobs (a job array's tasks by its id: each task's record names it as ArrayJobId, the
    record's second field). A job Slurm no longer knows is absent.

    A few ids (the completion hook asks about one) are asked about one by one: each `scontrol show job -o ID` is one
    small answer. More (the reconciler asks about up to 100) take one `scontrol show job -o` of every job Slurm knows,
    filtered on the login node, rather than one scontrol per job: 100 of those took 10 s with 1,000 jobs active. The
    full listing is the wrong choice for one job: after a burst Slurm remembers thousands of ended jobs, and every
    end report would list them all."""
    ids = [_checked_slurm_id(i) for i in slurm_job_ids]
    if len(ids) <= ONE_BY_ONE_UP_TO:
        return "".join(f"scontrol show job -o {i} 2>/dev/null || true\n" for i in ids)
    select = (
        'BEGIN { n = split(ids, listed, " "); for (i = 1; i <= n; i++) wanted[listed[i]] = 1 } '
        '{ for (i = 1; i <= 2 && i <= NF; i++) { split($i, kv, "="); '
        'if ((kv[1] == "JobId" || kv[1] == "ArrayJobId") && (kv[2] in wanted)) { print; next } } }'
    )
    return f"scontrol show job -o 2>/dev/null | awk -v ids='{' '.join(ids)}' '{select}'\n"


def cancel_script(slurm_job_ids: Sequence[str]) -> str:
    return "scancel " + " ".join(_checked_slurm_id(i) for i in slurm_job_ids) + "\n"


def release_script(slurm_job_ids: Sequence[str]) -> str:
    return "scontrol release " + " ".join(_checked_slurm_id(i) for i in slurm_job_ids) + "\n"


def parse_status_output(output: str) -> dict[str, SlurmJobStatus]:
    statuses: dict[str, SlurmJobStatus] = {}
    for line in output.splitlines():
        fields = dict(re.findall(r"(\w+)=(\S*)", line))
        job_id = fields.get("JobId")
        if not job_id or fields.get("JobState") in (None, "UNKNOWN"):
            continue
        statuses[job_id] = SlurmJobStatus(
            slurm_job_id=job_id,
            state=fields["JobState"],
            exit_code=fields.get("ExitCode"),
            reason=fields.get("Reason"),
            elapsed_s=_duration_s(fields.get("RunTime")),
            cpus=int(fields["NumCPUs"]) if fields.get("NumCPUs", "").isdigit() else None,
            array_task_id=int(fields["ArrayTaskId"]) if fields.get("ArrayTaskId", "").isdigit() else None,
            array_job_id=fields.get("ArrayJobId") or None,
            restarts=int(fields["Restarts"]) if fields.get("Restarts", "").isdigit() else 0,
        )
    return statuses


def _duration_s(text: str | None) -> float | None:
    """Slurm's [D-]HH:MM:SS."""
    if not text:
        return None
    days, _, clock = text.rpartition("-")
    parts = clock.split(":")
    if not all(p.isdigit() for p in parts) or len(parts) != 3 or (days and not days.isdigit()):
        return None
    hours, minutes, seconds = (int(p) for p in parts)
    return float((int(days or 0) * 24 + hours) * 3600 + minutes * 60 + seconds)


def _checked_job_id(job_id: str) -> str:
    if not JOB_ID_PATTERN.match(job_id):
        raise UnsafeValue(f"{job_id!r} is not a job id we generate")
    return job_id


def _checked_slurm_id(slurm_id: str) -> str:
    if not _SLURM_ID.match(slurm_id):
        raise UnsafeValue(f"{slurm_id!r} is not a Slurm job id")
    return slurm_id
