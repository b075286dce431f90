"""One real local stack (named "test", its own ports and state) for the whole session.

It is restarted at the start so the functions run the code under test, and stopped at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from google.cloud import firestore

from devstack.load import set_quota_defaults
from devstack.stack import PROJECT_ID, LocalStack, StackLayout
from olc_cli.client import ClientConfig
from shared.adapters.gcs_store import storage_client


@dataclass
class RunningStack:
    layout: StackLayout
    stack: LocalStack

    def client(self, user: str) -> ClientConfig:
        return ClientConfig(
            api_url=self.layout.url("api"),
            designs_bucket=self.layout.client_env()["DESIGNS_BUCKET"],
            project_id=PROJECT_ID,
            user=user,
        )

    def firestore(self) -> firestore.Client:
        return firestore.Client(project=PROJECT_ID)

    def storage(self):
        return storage_client(PROJECT_ID)

    def squeue(self, *args: str) -> str:
        return subprocess.run(
            ["squeue", "-h", "-t", "all", *args],
            env={**os.environ, "SLURM_CONF": self.layout.client_env()["SLURM_CONF"]},
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def slurm_jobs_named(self, name: str) -> list[str]:
        return self.squeue(f"--name={name}", "-o", "%i").split()

    def slurm_state(self, slurm_id: str) -> str:
        return self.squeue("-j", slurm_id, "-o", "%T").strip()


GLOBAL_LIMIT = 6
USER_LIMIT = 2


@pytest.fixture
def tight_quotas(stack: RunningStack) -> Iterator[None]:
    """Global 6, per user 2: with the node's 2 CPUs, some admitted jobs wait PENDING in Slurm."""
    assert set_quota_defaults(stack.layout, {"global_concurrency": GLOBAL_LIMIT, "user_concurrency": USER_LIMIT}) == 200
    yield
    assert set_quota_defaults(stack.layout, {"global_concurrency": None, "user_concurrency": None}) == 200


@pytest.fixture(scope="session")
def stack() -> Iterator[RunningStack]:
    layout = StackLayout.for_name(os.environ.get("OLC_TEST_STACK", "test"), tick_seconds=2)
    local = LocalStack(layout)
    local.down()
    for leftover in ("gcs", "mail", "pubsub"):
        shutil.rmtree(layout.state / leftover, ignore_errors=True)
    try:
        local.up()
    except BaseException:
        local.down()
        raise
    saved = dict(os.environ)
    os.environ.update(layout.client_env())
    try:
        yield RunningStack(layout, local)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        local.down()
