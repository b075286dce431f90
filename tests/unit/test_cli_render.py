"""How olc shows a job (olc_cli/render.py): a design fetched from git, results reused from an earlier run, reruns."""

from __future__ import annotations

import io
from typing import Any

from olc_cli.render import detail, git_line, job_summary, lineage_lines, progress_line

URL = "https://git.example.org/ada/examples.git"
COMMIT = "1a2b3c4d5e6f" + "7" * 28
OTHER = "j" + "0" * 19
PARENT = "j" + "1" * 19


def job(state: str = "SUCCEEDED", **more: Any) -> dict[str, Any]:
    return {
        "id": "j" + "a" * 19,
        "state": state,
        "design_name": "spm",
        "flow": "qflow-osu035",
        "stage": None,
        "reason": None,
        "progress": {"stages_done": 0, "stages_total": 0, "planned_stages": []},
        "links": {"page": "https://olc.example.org/jobs/" + "j" + "a" * 19},
        "git": None,
        "reused_from": None,
        "parent_job": None,
        **more,
    }


def summary(view: dict[str, Any]) -> str:
    out = io.StringIO()
    job_summary(view, out)
    return out.getvalue()


def test_a_job_being_fetched_says_from_where() -> None:
    fetching = job("FETCHING", git={"url": URL, "ref": "main", "path": "spm", "commit": None})
    assert detail(fetching) == f"fetching {URL} main"
    assert progress_line(fetching) == f"FETCHING   fetching {URL} main"
    # Even with stages known (they are not, yet), fetching is what it does.
    assert progress_line({**fetching, "progress": {"stages_done": 0, "stages_total": 5}}).startswith("FETCHING   fetch")
    assert progress_line(job("FETCHING")) == "FETCHING   fetching"


def test_the_git_line_has_url_ref_short_commit_and_folder() -> None:
    git = {"url": URL, "ref": "main", "path": "spm", "commit": COMMIT}
    assert git_line(git) == f"{URL}  main @ 1a2b3c4d5e6f  (path spm)"
    assert git_line({**git, "path": ""}) == f"{URL}  main @ 1a2b3c4d5e6f"
    assert git_line({**git, "commit": None}) == f"{URL}  main  (path spm)"
    text = summary(job(git=git))
    assert f"\ngit      {URL}  main @ 1a2b3c4d5e6f  (path spm)\n" in text
    assert COMMIT not in text
    assert "git " not in summary(job()), "an upload has no git line"


def test_reuse_and_rerun_name_the_other_job() -> None:
    reason = f"same inputs as job {OTHER}: results reused"
    text = summary(job(reused_from=OTHER, reason=reason, parent_job=PARENT, core_hours=0))
    assert f"reused   same inputs as job {OTHER}: results reused (olc status {OTHER})" in text
    assert f"rerun    rerun of job {PARENT} (olc status {PARENT})" in text
    assert text.count("results reused") == 1, "the reason says the same: shown once"
    assert lineage_lines(job()) == []
    # Another reason (not about the reuse) is still shown.
    assert "reason   cancelled by the owner" in summary(
        job("CANCELLED", reason="cancelled by the owner", parent_job=PARENT)
    )
