"""The local Slurm cluster and its SSH login node, for real: submit over SSH, see the epilog run, tear down."""

from __future__ import annotations

import base64
import dataclasses
import io
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from devstack.process import is_alive, read_pid
from devstack.slurm import LocalSlurm, SlurmSettings
from devstack.sshd import LocalSshd, SshdSettings
from shared.domain.slurm_commands import parse_status_output, status_script

pytestmark = pytest.mark.stack

# Not the test stack's "olctest": this module must not disturb (or be disturbed by) a running stack.
LOGIN_USER = "olcslurmit"

# The epilog runs as root with NO PATH: builtins and absolute paths only. It writes via a temp file and
# a rename so the test never reads half a file, and always exits 0 (a failing epilog drains the node).
EPILOG = """#!/bin/sh
out="{out_dir}/$SLURM_JOB_ID"
printf 'SLURM_JOB_ID=%s\\nSLURM_JOB_COMMENT=%s\\n' "$SLURM_JOB_ID" "${{SLURM_JOB_COMMENT-}}" > "$out.tmp"
/bin/mv "$out.tmp" "$out"
exit 0
"""


@dataclass
class Stack:
    root: Path
    slurm: LocalSlurm
    sshd: LocalSshd
    client: paramiko.SSHClient
    epilog_out: Path
    private_key_pem: str
    timings: dict[str, float] = field(default_factory=dict)

    def run(self, command: str, timeout: float = 15) -> str:
        _, stdout, stderr = self.client.exec_command(command, timeout=timeout)
        out = stdout.read().decode()
        rc = stdout.channel.recv_exit_status()
        assert rc == 0, f"{command!r} exited {rc}: {stderr.read().decode()}"
        return out

    def job_state(self, job_id: str) -> str:
        line = self.run(f"scontrol show job -o {job_id}")
        match = re.search(r"\bJobState=(\S+)", line)
        assert match, line
        return match.group(1)

    def wait_state(self, job_id: str, wanted: str, timeout: float = 15) -> float:
        start = time.monotonic()
        state = ""
        while time.monotonic() - start < timeout:
            state = self.job_state(job_id)
            if state == wanted:
                return time.monotonic() - start
            time.sleep(0.05)
        pytest.fail(f"job {job_id} is {state}, not {wanted}, after {timeout} s")

    def epilog_record(self, job_id: str, timeout: float = 10) -> dict[str, str]:
        path = self.epilog_out / job_id
        end = time.monotonic() + timeout
        while not path.exists():
            assert time.monotonic() < end, f"epilog wrote no {path}"
            time.sleep(0.02)
        return dict(line.split("=", 1) for line in path.read_text().splitlines())


def _free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def _pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()


def _connect(sshd: LocalSshd, port: int, key: Ed25519PrivateKey) -> paramiko.SSHClient:
    pem = _pem(key)
    client = paramiko.SSHClient()
    # Pin the host key the stack hands out; anything else is refused.
    key_type, blob = sshd.host_public_key.split()
    host_key = paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))
    client.get_host_keys().add(f"[127.0.0.1]:{port}", key_type, host_key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        "127.0.0.1",
        port=port,
        username=LOGIN_USER,
        pkey=paramiko.Ed25519Key.from_private_key(io.StringIO(pem)),
        look_for_keys=False,
        allow_agent=False,
        timeout=10,
    )
    return client


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    assert os.geteuid() == 0, "the local Slurm cluster needs root (slurmd, sshd, useradd)"
    # Not tmp_path: pytest makes it 0700, and the login user's sbatch must read slurm.conf.
    root = Path(tempfile.mkdtemp(prefix="olc-slurm-it-"))
    root.chmod(0o755)
    epilog_out = root / "epilog-out"
    epilog_out.mkdir()
    epilog = root / "epilog.sh"
    epilog.write_text(EPILOG.format(out_dir=epilog_out))
    epilog.chmod(0o755)
    ctld_port, slurmd_port, ssh_port = _free_ports(3)
    slurm = LocalSlurm(SlurmSettings(root / "slurm", "olcslurmit", ctld_port, slurmd_port, epilog=epilog))
    key = Ed25519PrivateKey.generate()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    sshd = LocalSshd(SshdSettings(root / "sshd", ssh_port, LOGIN_USER, public.decode() + " olc-test", slurm.client_env))
    client = None
    try:
        start = time.monotonic()
        slurm.up()
        cold_up = time.monotonic() - start
        start = time.monotonic()
        sshd.up()
        sshd_up = time.monotonic() - start
        client = _connect(sshd, ssh_port, key)
        yield Stack(
            root, slurm, sshd, client, epilog_out, _pem(key), {"slurm up (cold)": cold_up, "sshd up (cold)": sshd_up}
        )
    finally:
        if client is not None:
            client.close()
        sshd.down()
        slurm.down()
        shutil.rmtree(root, ignore_errors=True)


def test_login_session_talks_to_this_cluster(stack: Stack) -> None:
    out = stack.run('id -un; echo "$SLURM_CONF"; sinfo -h -o %P:%T').split()
    assert out == [LOGIN_USER, str(stack.slurm.conf_path), "debug*:idle"]


def test_sbatch_completes_and_epilog_runs(stack: Stack) -> None:
    submitted_wall, start = time.time(), time.monotonic()
    # Output into a private dir: a concurrent run of this module has the same job IDs and home.
    out_dir = stack.run("mktemp -d").strip()
    job_id = stack.run(f"sbatch --parsable -o {out_dir}/%j.out --wrap 'echo hi'").strip()
    assert job_id.isdigit()
    stack.wait_state(job_id, "COMPLETED")
    stack.timings["sbatch -> COMPLETED seen over SSH"] = time.monotonic() - start
    record = stack.epilog_record(job_id)
    stack.timings["sbatch -> epilog file written"] = (stack.epilog_out / job_id).stat().st_mtime - submitted_wall
    assert record == {"SLURM_JOB_ID": job_id, "SLURM_JOB_COMMENT": ""}
    # The job really ran, as the login user.
    assert stack.run(f"cat {out_dir}/{job_id}.out && rm -r {out_dir}") == "hi\n"


def test_comment_reaches_epilog(stack: Stack) -> None:
    comment = "olc run=42 design=spm"
    job_id = stack.run(f"sbatch --parsable -o /dev/null --comment '{comment}' --wrap true").strip()
    stack.wait_state(job_id, "COMPLETED")
    assert stack.epilog_record(job_id)["SLURM_JOB_COMMENT"] == comment


def test_a_script_runs_only_when_it_arrived_whole(stack: Stack) -> None:
    """The adapter's remote runner (stdin stored in a private file, run from there): a script whose end marker did
    not arrive, as when the connection is cut mid-transfer, runs nothing at all."""
    from shared.adapters.ssh_slurm import _RUN_STDIN, _SCRIPT_END

    marker = stack.run("mktemp -u").strip()

    def send(text: str) -> tuple[int, str, str]:
        stdin, stdout, stderr = stack.client.exec_command(_RUN_STDIN, timeout=30)
        stdin.write(text)
        stdin.channel.shutdown_write()
        out, err = stdout.read().decode(), stderr.read().decode()
        return stdout.channel.recv_exit_status(), out, err

    script = f"touch {marker}\necho ran $(id -un)\n"
    status, out, err = send(script)  # cut short: no end marker
    assert (status, out) == (98, "") and "cut short" in err
    assert stack.run(f"test -e {marker} && echo there || echo absent").strip() == "absent"
    status, out, _ = send(script + _SCRIPT_END + "\n")
    assert (status, out.strip()) == (0, f"ran {LOGIN_USER}")
    assert stack.run(f"test -e {marker} && echo there; rm -f {marker}").strip() == "there"


def test_the_adapter_sends_each_command_at_once(stack: Stack) -> None:
    """The adapter's connection has Nagle's algorithm off: with it on, each command's last small packet waited for
    the login node's delayed acknowledgement (90 ms for any command on this machine, `true` included)."""
    from shared.adapters.ssh_slurm import SshSlurmCluster

    cluster = SshSlurmCluster(
        lambda: "127.0.0.1",
        stack.sshd.settings.port,
        LOGIN_USER,
        lambda: stack.private_key_pem,
        work_root=str(stack.root / "adapter-work"),
        host_key=stack.sshd.host_public_key,
    )
    try:
        cluster.connect()
        transport = cluster._client.get_transport()  # the socket is what this test is about
        assert transport.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert cluster.status(["999999"]) == {}  # a command still runs and answers over it
    finally:
        cluster.close()


def test_up_twice_is_a_noop(stack: Stack) -> None:
    names = ("munged", "slurmctld", "slurmd")
    before = {name: read_pid(stack.slurm.settings.state_dir, name) for name in names}
    sshd_before = read_pid(stack.sshd.settings.state_dir, "sshd")
    conf_mtime = stack.slurm.conf_path.stat().st_mtime_ns
    start = time.monotonic()
    stack.slurm.up()
    stack.sshd.up()
    stack.timings["up (warm, both)"] = time.monotonic() - start
    assert {name: read_pid(stack.slurm.settings.state_dir, name) for name in names} == before
    assert read_pid(stack.sshd.settings.state_dir, "sshd") == sshd_before
    assert stack.slurm.conf_path.stat().st_mtime_ns == conf_mtime
    assert stack.timings["up (warm, both)"] < 2
    assert stack.slurm.status() == {"munged": "up", "slurmctld": "up", "slurmd": "up", "node": "idle"}
    assert stack.sshd.status() == {"sshd": "up"}


def _local(slurm: LocalSlurm, *argv: str) -> str:
    """A Slurm client run here as root against `slurm` (the cluster is picked by SLURM_CONF alone)."""
    env = {**os.environ, **slurm.client_env}
    return subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout


def test_second_cluster_coexists_and_restarts_on_conf_change(stack: Stack) -> None:
    ctld_port, slurmd_port, other_port = _free_ports(3)
    settings = SlurmSettings(stack.root / "slurm-b", "olcslurmitb", ctld_port, slurmd_port)
    second = LocalSlurm(settings)
    try:
        start = time.monotonic()
        second.up()
        stack.timings["second cluster up (cold)"] = time.monotonic() - start
        job_id = _local(second, "sbatch", "--parsable", "-o", "/dev/null", "--wrap", "sleep 2").strip()
        assert _local(second, "squeue", "-h", "-o", "%i").split() == [job_id]
        assert _local(stack.slurm, "squeue", "-h", "-o", "%i").split() == []  # only its own jobs

        # A changed slurm.conf restarts the daemons; the running job carries on.
        old_slurmd = read_pid(settings.state_dir, "slurmd")
        start = time.monotonic()
        LocalSlurm(dataclasses.replace(settings, slurmd_port=other_port)).up()
        stack.timings["conf change -> restarted, idle"] = time.monotonic() - start
        assert read_pid(settings.state_dir, "slurmd") != old_slurmd
        assert f"SlurmdPort={other_port}" in second.conf_path.read_text()
        end = time.monotonic() + 15
        while "JobState=COMPLETED" not in (line := _local(second, "scontrol", "show", "job", "-o", job_id)):
            assert time.monotonic() < end, line
            time.sleep(0.1)
    finally:
        second.down()
    assert second.status()["slurmctld"] == "down"
    assert stack.slurm.status()["node"] == "idle"  # the first cluster did not notice


def test_a_node_of_many_slots_runs_more_jobs_at_once_than_the_machine_has_cores(stack: Stack) -> None:
    """bench/scale.py's node: SlurmSettings.node_slots jobs run at once, and slurmd does not drain the node for
    claiming more cores than it finds."""
    ctld_port, slurmd_port = _free_ports(2)
    wide = LocalSlurm(SlurmSettings(stack.root / "slurm-wide", "olcslurmitw", ctld_port, slurmd_port, node_slots=16))
    try:
        wide.up()
        ids = [_local(wide, "sbatch", "--parsable", "-o", "/dev/null", "--wrap", "sleep 60").strip() for _ in range(12)]
        end = time.monotonic() + 30
        while len(running := _local(wide, "squeue", "-h", "-t", "RUNNING", "-o", "%i").split()) < 12:
            assert time.monotonic() < end, running
            time.sleep(0.2)
        assert sorted(running) == sorted(ids)
        assert _local(wide, "sinfo", "-h", "-o", "%T").strip() == "mixed"  # 12 of 16 slots taken, not drained
        _local(wide, "scancel", *ids)
    finally:
        wide.down()


def test_the_status_script_reports_jobs_and_array_tasks_of_a_real_cluster(stack: Stack) -> None:
    """Both ways of asking, on real records: a few jobs one by one (the completion hook), and more (the reconciler)
    with one scontrol for all of Slurm's jobs, filtered to those asked about."""
    out_dir = stack.run("mktemp -d").strip()
    single = stack.run(f"sbatch --parsable -o {out_dir}/%j.out --wrap 'sleep 30'").strip()
    array = stack.run(f"sbatch --parsable --array=0-3%1 -o {out_dir}/%A_%a.out --wrap 'sleep 30'").strip()
    other = stack.run(f"sbatch --parsable -o {out_dir}/%j.out --wrap 'sleep 30'").strip()
    try:
        for asked in ([single, array, "999999"], [single, array, "999999", "999998", "999997"]):
            statuses = parse_status_output(stack.run(status_script(asked)))
            assert single in statuses and other not in statuses and "999999" not in statuses, asked
            assert statuses[single].array_job_id is None
            tasks = [s for s in statuses.values() if s.array_job_id == array]
            assert tasks and all(s.state in ("PENDING", "RUNNING", "CONFIGURING") for s in tasks), asked
    finally:
        stack.run(f"scancel {single} {array} {other}")


def _children(pid: int) -> set[int]:
    result: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        result |= {int(p) for p in (task / "children").read_text().split()}
    return result


def _describe(pid: int) -> str:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        return f"{cmd} | {Path(f'/proc/{pid}/stat').read_text()}"
    except FileNotFoundError:
        return "(gone)"


def _job_pids(stack: Stack, job_id: str, timeout: float = 15) -> set[int]:
    """The job's processes as `scontrol listpids` reports them, once slurmd has launched its step.

    slurmctld says RUNNING as soon as it has sent the launch; slurmd starts slurmstepd a moment later,
    and until then listpids finds no step ("does not exist on node", as CI saw inside the full suite)
    or lists it with PID -1.
    """
    end = time.monotonic() + timeout
    while True:
        listing = subprocess.run(
            ["scontrol", "listpids", job_id],
            check=False,
            env={**os.environ, **stack.slurm.client_env},
            capture_output=True,
            text=True,
        )
        rows = [line.split() for line in listing.stdout.splitlines()[1:] if line.strip()]
        pids = {int(row[0]) for row in rows} - {-1}
        if pids:
            return pids
        if time.monotonic() > end:
            spool = stack.slurm.settings.state_dir / "spool"
            logs = stack.slurm.settings.state_dir / "logs"
            slurmd_log = (logs / "slurmd.log").read_text()[-3000:] if (logs / "slurmd.log").exists() else "(none)"
            pytest.fail(
                f"no process of job {job_id} after {timeout} s: {listing}\n"
                f"state: {stack.job_state(job_id)}; spool: {sorted(p.name for p in spool.iterdir())}\n"
                f"slurmd log tail:\n{slurmd_log}"
            )
        time.sleep(0.1)


def test_down_leaves_no_process(stack: Stack) -> None:
    job_id = stack.run("sbatch --parsable -o /dev/null --wrap 'sleep 300'").strip()
    stack.wait_state(job_id, "RUNNING")
    slurm_dir, sshd_dir = stack.slurm.settings.state_dir, stack.sshd.settings.state_dir
    pids = {name: read_pid(slurm_dir, name) for name in ("munged", "slurmctld", "slurmd")}
    pids["sshd"] = read_pid(sshd_dir, "sshd")
    assert all(is_alive(pid) for pid in pids.values()), pids
    tracked = {pid for pid in pids.values() if pid is not None}
    # slurmctld's helper (slurmscriptd) and sshd's per-connection processes (our open client).
    tracked |= _children(pids["slurmctld"]) | _children(pids["sshd"])
    # The running job as Slurm itself reports it, plus its slurmstepd (the batch shell's parent).
    job_pids = _job_pids(stack, job_id)
    for pid in list(job_pids):
        try:
            job_pids.add(int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1]))
        except FileNotFoundError:
            continue  # a short-lived process of the job's start, already gone (it stays tracked: gone is fine)
    tracked |= job_pids - {1}
    assert len(tracked) >= 7, tracked

    start = time.monotonic()
    stack.sshd.down()
    stack.slurm.down()
    stack.timings["down (both, job running)"] = time.monotonic() - start

    left = {pid: _describe(pid) for pid in tracked if is_alive(pid)}
    assert left == {}
    assert stack.slurm.status() == {"munged": "down", "slurmctld": "down", "slurmd": "down", "node": "down"}
    assert stack.sshd.status() == {"sshd": "down"}
    print("\n" + "\n".join(f"{name}: {seconds:.3f} s" for name, seconds in stack.timings.items()))
