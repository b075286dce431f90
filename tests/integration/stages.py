"""Run a FlowPlan's stages locally the way the job kit (infra/slurm/olc_job.py) does, for the flow tests."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from shared.domain.design import DesignSpec
from shared.domain.design_config import parse_design_config
from shared.domain.flows.base import FlowPlan


@dataclass
class StageResult:
    name: str
    returncode: int
    output: str
    seconds: float


def design_spec(folder: Path, flow: str) -> DesignSpec:
    """The DesignSpec that ingest makes of this folder's upload."""
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    return parse_design_config((folder / "config.json").read_text(), files, flow=flow)


def run_stages(plan: FlowPlan, work: Path) -> list[StageResult]:
    """Each stage in order, stopping at the first failure, as infra/slurm/olc_job.py does."""
    results = []
    for stage in plan.stages:
        started = time.perf_counter()
        done = subprocess.run(
            stage.argv,
            cwd=work / stage.cwd,
            env={**os.environ, **stage.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        results.append(StageResult(stage.name, done.returncode, done.stdout, time.perf_counter() - started))
        if done.returncode != 0:
            break
    return results
