"""A real single-node Slurm cluster (munged + slurmctld + slurmd) living entirely in one state dir.

Several clusters can run on one machine at the same time (the demo stack and a test stack): each one
has its own slurm.conf (clients select it with SLURM_CONF), ports, state, spool, logs and PID files,
and even its own munged on its own socket and key. Nothing under /etc/slurm or /run/munge is used.

Why a munged per cluster rather than the machine's shared one: a shared daemon has no owner, so one
stack's down() would either leave it behind or pull it from under the other stack. A private munged
(AuthInfo=socket=...) makes up()/down() exact and costs one small process.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import pwd
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from devstack.debian import ensure_packages
from devstack.process import (
    StackError,
    is_alive,
    log_file,
    port_open,
    read_pid,
    running,
    start_daemon,
    stop_daemon,
    wait_until,
)

log = logging.getLogger(__name__)

# Every daemon we start carries OWNER_ENV=<kind>:<state dir> in its environment. Processes that escape
# the daemon's process group (slurmstepd calls setsid() and is re-parented to PID 1, as are sshd's
# per-connection children) inherit it, so down() can find them by PID without matching on names.
OWNER_ENV = "OLC_LOCALSTACK_OWNER"

# Longest path of a UNIX socket (sun_path is 108 bytes with the NUL).
_SUN_PATH_MAX = 107
# slurmd puts one socket per job step in its spool dir: "<node>_<jobid>.<stepid>".
_STEP_SOCKET_RESERVE = 32

_READY_NODE_STATES = frozenset({"idle", "mixed", "allocated", "completing"})
# States that a running slurmd does not leave on its own; up() means "usable", so it resumes them.
_RESUMABLE_NODE_STATES = frozenset({"drained", "draining", "down", "drain", "fail", "failing"})

_DAEMONS = ("munged", "slurmctld", "slurmd")
_MUNGED = "/usr/sbin/munged"
_SLURMCTLD = "/usr/sbin/slurmctld"
_SLURMD = "/usr/sbin/slurmd"
# The compute node shares this machine's cores with the services that are separate machines and managed services in
# production (emulators, functions, sshd as the login node). slurmd and so every run it starts (tasks inherit its
# priority: PropagatePrioProcess=0) run nicer than they, so that 400 runs starting at once slow the runs down, not
# the control plane that records them: measured with nice 0, a tick in such a start took up to 7.7 s.
_COMPUTE_NICENESS = 10
_SETPRIV = "/usr/bin/setpriv"


@dataclass(frozen=True)
class SlurmSettings:
    state_dir: Path  # everything of this cluster lives here: slurm.conf, state, spool, logs, pids
    cluster_name: str  # e.g. "olcdemo" / "olctest"
    slurmctld_port: int
    slurmd_port: int
    epilog: Path | None = None  # absolute path of a script Slurm runs as root after each job (Epilog=)
    epilog_env_file: Path | None = None  # not used by the cluster itself (kept for callers' epilogs)
    # Job slots of the one node; 0: its real cores. More than the machine has lets a load test (bench/scale.py) run
    # hundreds of sleeping jobs at once on two cores.
    node_slots: int = 0


@dataclass(frozen=True)
class NodeHardware:
    name: str
    # "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1" as slurmd -C reports it.
    topology: str
    real_memory_mb: int


@functools.cache
def node_hardware() -> NodeHardware:
    """This machine as slurmd sees it, with RealMemory lowered to ~85% of RAM.

    slurmd drains a node whose measured memory is below the configured RealMemory; the exact
    figure from `slurmd -C` can dip by a few MB between boots, so we leave headroom.
    """
    try:
        out = subprocess.run([_SLURMD, "-C"], capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise StackError(f"`slurmd -C` failed: {exc}") from exc
    first = out.splitlines()[0] if out else ""
    fields = dict(tok.split("=", 1) for tok in first.split() if "=" in tok)
    if "NodeName" not in fields or "RealMemory" not in fields:
        raise StackError(f"unexpected `slurmd -C` output: {out!r}")
    topology = " ".join(f"{key}={value}" for key, value in fields.items() if key not in {"NodeName", "RealMemory"})
    return NodeHardware(fields["NodeName"], topology, int(int(fields["RealMemory"]) * 0.85))


class LocalSlurm:
    PACKAGES: tuple[str, ...] = ("munge", "slurmctld", "slurmd", "slurm-client")
    PARTITION = "debug"

    def __init__(self, settings: SlurmSettings) -> None:
        if not settings.state_dir.is_absolute():
            raise ValueError(f"state_dir must be absolute: {settings.state_dir}")
        if settings.epilog is not None and not settings.epilog.is_absolute():
            raise ValueError(f"epilog must be an absolute path: {settings.epilog}")
        self.settings = settings
        self._dir = settings.state_dir
        self._owner = f"slurm:{self._dir}"

    # ---- paths -------------------------------------------------------------------------------------
    @property
    def conf_path(self) -> Path:
        """Clients select this cluster with SLURM_CONF=<this>."""
        return self._dir / "slurm.conf"

    @property
    def client_env(self) -> dict[str, str]:
        """What a Slurm client (sbatch, squeue, ...) needs in its environment to talk to this cluster."""
        return {"SLURM_CONF": str(self.conf_path)}

    @property
    def node_name(self) -> str:
        return node_hardware().name

    @property
    def _munge_dir(self) -> Path:
        return self._dir / "munge"

    @property
    def munge_socket(self) -> Path:
        return self._munge_dir / "munge.socket"

    # ---- lifecycle ---------------------------------------------------------------------------------
    def up(self, timeout_s: float = 60) -> None:
        """Start munged, slurmctld and slurmd as needed and wait until the node takes jobs. Idempotent."""
        deadline = time.monotonic() + timeout_s
        ensure_packages(self.PACKAGES)
        self._check_paths()
        self._prepare_dirs()
        if self._write_conf(self.render_conf()) and (running(self._dir, "slurmctld") or running(self._dir, "slurmd")):
            # Ports, plugins and the node line are only read at start-up. Running jobs survive
            # this (slurmstepd is outside slurmd's process group).
            log.info("slurm.conf of %s changed: restarting slurmctld and slurmd", self.settings.cluster_name)
            stop_daemon(self._dir, "slurmd")
            stop_daemon(self._dir, "slurmctld")
        self._up_munged(deadline)
        daemon_env = {**os.environ, "SLURM_CONF": str(self.conf_path), OWNER_ENV: self._owner}
        conf = str(self.conf_path)
        self._start("slurmctld", self.settings.slurmctld_port, [_SLURMCTLD, "-D", "-f", conf], daemon_env)
        # slurmd only after slurmctld listens: a slurmd whose first registration fails retries one
        # second later, which made a cold up() take 1.2 s instead of 0.3 s.
        self._wait("slurmctld", lambda: port_open(self.settings.slurmctld_port), deadline, "slurmctld")
        self._start(
            "slurmd",
            self.settings.slurmd_port,
            ["/usr/bin/nice", "-n", str(_COMPUTE_NICENESS), _SLURMD, "-D", "-f", conf, "-N", self.node_name],
            daemon_env,
        )
        self._wait_node_ready(deadline)

    def down(self) -> None:
        """Stop everything up() started for this cluster, including job steps still running."""
        # Job steps (slurmstepd and the job's processes) live in sessions of their own, re-parented to
        # PID 1: look them up while the daemons still run, and again afterwards.
        steps = owned_processes(self._owner, roots=[read_pid(self._dir, name) for name in _DAEMONS])
        # slurmctld first so that nothing new gets scheduled while slurmd goes away.
        stop_daemon(self._dir, "slurmctld")
        stop_daemon(self._dir, "slurmd")
        kill_owned_processes(self._owner, grace_s=1.0, also=steps)
        stop_daemon(self._dir, "munged")

    def status(self) -> dict[str, str]:
        result = {name: "up" if running(self._dir, name) else "down" for name in _DAEMONS}
        result["node"] = (self._node_state() or "unknown") if result["slurmctld"] == "up" else "down"
        return result

    # ---- slurm.conf --------------------------------------------------------------------------------
    def render_conf(self) -> str:
        s = self.settings
        hw = node_hardware()
        lines = [
            "# Generated by devstack/slurm.py on every up(); edits are overwritten.",
            f"ClusterName={s.cluster_name}",
            f"SlurmctldHost={hw.name}(127.0.0.1)",
            f"SlurmctldPort={s.slurmctld_port}",
            f"SlurmdPort={s.slurmd_port}",
            "SlurmUser=root",
            "SlurmdUser=root",
            # This cluster's own munged (see the module docstring).
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.munge_socket}",
            f"StateSaveLocation={self._dir / 'ctld-state'}",
            f"SlurmdSpoolDir={self._dir / 'spool'}",
            # The defaults (/run/slurmctld.pid, ...) would collide between two clusters.
            f"SlurmctldPidFile={self._dir / 'run' / 'slurmctld.pid'}",
            f"SlurmdPidFile={self._dir / 'run' / 'slurmd.pid'}",
            # No *LogFile: the daemons run with -D and log to stderr, i.e. into logs/<daemon>.log.
            "SlurmctldDebug=info",
            "SlurmdDebug=info",
            # cgroups are not usable in this sandbox (nor needed on one node).
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "JobAcctGatherType=jobacct_gather/none",
            # No slurmdbd: sacct says "accounting storage is disabled"; use scontrol/squeue instead.
            "AccountingStorageType=accounting_storage/none",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self._dir / 'logs' / 'jobcomp.txt'}",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            # Default bf_interval=30 let 220 queued jobs take 475 s; with 1 s, 100 jobs ran in 3.8 s.
            # A batch job never starts at submit time in 22.05 (job_allocate() only tests it, allocate=0), and sbatch
            # only *queues* a scheduler run (queue_job_scheduler()), which slurmctld's background thread starts on its
            # next ~1 s tick, and only if batch_sched_delay (default 3 s) has passed since it last did; else the 1 s
            # backfill tick starts it. No setting starts it sooner: only an epilog-complete message runs the scheduler
            # at once (hence the Epilog below). batch_sched_delay=0 makes every main tick count, a second chance
            # besides the backfill tick: sbatch -> start p50 0.46 -> 0.31 s, p95 0.92 -> 0.79 s (150 jobs each).
            # bf_continue with bf_yield_interval=0.2 s (default 2 s): backfill gives up slurmctld's job locks more
            # often. On the scale plateau (600 pending, 400 running) the reconciler's `scontrol show job` took up to
            # 0.36-1.78 s in three runs without them, 0.11 s in one run with them (bench/scale.py); that backfill's
            # locks were what it waited for is my reading of those figures, not traced.
            "SchedulerParameters=bf_interval=1,batch_sched_delay=0,bf_continue,bf_yield_interval=200000",
            # Finished jobs stay visible to `scontrol show job` / `squeue -t all` for an hour.
            "MinJobAge=3600",
            # A node that was DOWN (e.g. slurmd restarted) returns as soon as slurmd registers.
            "ReturnToService=2",
            "OverTimeLimit=0",
            # Seconds between SIGTERM and SIGKILL on cancel/timeout: short keeps tests quick.
            "KillWait=5",
            # Everything is on loopback: a reply that takes 5 s is never coming, except on a node of many slots
            # (bench/scale.py) starting hundreds of jobs at once on two cores, where slurmd then fails launches
            # it could not confirm in time ("launch failed requeued held").
            f"MessageTimeout={60 if s.node_slots else 5}",
            "SlurmdTimeout=30",
            "SlurmctldTimeout=30",
            "InactiveLimit=0",
            "WaitTime=0",
            "MailProg=/bin/true",
        ]
        # The epilog runs as root with NO PATH after every job that got an allocation; a non-zero
        # exit or a hang drains the node. Without any Epilog, Slurm 22.05 starts queued jobs only on
        # its 1 s backfill tick (100 x `sbatch --wrap true`: 49 s); with one, each epilog-complete
        # message runs the main scheduler at once (3.1 s). Hence /bin/true when the caller has none.
        lines.append(f"Epilog={s.epilog or '/bin/true'}")
        topology = hw.topology
        if s.node_slots:
            # slurmd would drain a node configured with more cores than it finds, unless told to take the config.
            lines.append("SlurmdParameters=config_overrides")
            topology = f"CPUs={s.node_slots} Boards=1 SocketsPerBoard=1 CoresPerSocket={s.node_slots} ThreadsPerCore=1"
        lines += [
            f"NodeName={hw.name} NodeAddr=127.0.0.1 {topology} RealMemory={hw.real_memory_mb} State=UNKNOWN",
            f"PartitionName={self.PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ]
        return "\n".join(lines) + "\n"

    def _write_conf(self, text: str) -> bool:
        """Write slurm.conf atomically (readers never see half a file); True if the content changed."""
        with contextlib.suppress(FileNotFoundError):
            if self.conf_path.read_text() == text:
                return False
        tmp = self.conf_path.with_name(f".slurm.conf.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)  # the login user's sbatch reads it
        tmp.replace(self.conf_path)
        return True

    # ---- helpers -----------------------------------------------------------------------------------
    def _check_paths(self) -> None:
        s = self.settings
        longest = max(len(str(self.munge_socket)), len(str(self._dir / "spool")) + _STEP_SOCKET_RESERVE)
        if longest > _SUN_PATH_MAX:
            raise StackError(
                f"state dir {self._dir} is too long for UNIX sockets (munge, slurmstepd); "
                f"use a path of at most {_SUN_PATH_MAX - _STEP_SOCKET_RESERVE - 6} characters"
            )
        if s.epilog is not None and not os.access(s.epilog, os.X_OK):
            # A missing epilog would fail after the first job and drain the node.
            raise StackError(f"epilog {s.epilog} does not exist or is not executable")
        # Other users (the SSH login user) must reach slurm.conf and the munge socket, and munged
        # itself refuses a socket dir that not everyone can traverse. pytest's tmp_path (0700) fails this.
        for parent in self._dir.parents:
            if parent.exists() and not parent.stat().st_mode & stat.S_IXOTH:
                raise StackError(
                    f"{parent} is not traversable by other users (mode {oct(parent.stat().st_mode & 0o777)}):"
                    f" Slurm clients of non-root users could not read {self.conf_path}; chmod o+x it"
                    " or choose another state dir"
                )

    def _prepare_dirs(self) -> None:
        self._dir.mkdir(parents=True, exist_ok=True)
        self._dir.chmod(0o755)
        for sub, mode in (("ctld-state", 0o700), ("spool", 0o755), ("run", 0o755), ("logs", 0o755)):
            (self._dir / sub).mkdir(exist_ok=True)
            (self._dir / sub).chmod(mode)

    def _up_munged(self, deadline: float) -> None:
        munge = pwd.getpwnam("munge")
        self._munge_dir.mkdir(exist_ok=True)
        # munged runs as "munge" and insists that its dirs are owned by it and not writable by others;
        # clients need o+x on the socket's dir.
        os.chown(self._munge_dir, munge.pw_uid, munge.pw_gid)
        self._munge_dir.chmod(0o755)
        key = self._munge_dir / "munge.key"
        if not key.exists():
            # A munge key is just random bytes (what `mungekey -c` writes); a key per cluster keeps a
            # client of one cluster from ever authenticating to another.
            tmp = key.with_suffix(".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(os.urandom(128))
            os.chown(tmp, munge.pw_uid, munge.pw_gid)
            tmp.replace(key)
        if running(self._dir, "munged") and self._munge_ok():
            return
        stop_daemon(self._dir, "munged")  # a live but unresponsive munged is restarted
        argv = [
            _SETPRIV, "--reuid=munge", "--regid=munge", "--init-groups", "--",
            _MUNGED, "-F",
            f"--socket={self.munge_socket}",
            f"--key-file={key}",
            f"--pid-file={self._munge_dir / 'munged.pid'}",
            f"--seed-file={self._munge_dir / 'munged.seed'}",
        ]  # fmt: skip
        # Never --force: it takes the socket over even from a munged that is still running.
        start_daemon(self._dir, "munged", argv, env={**os.environ, OWNER_ENV: self._owner})
        self._wait("munged", self._munge_ok, deadline, "munged")

    def _munge_ok(self) -> bool:
        if not self.munge_socket.exists():
            return False
        proc = subprocess.run(
            ["munge", "-n", "-S", str(self.munge_socket)],
            capture_output=True,
            check=False,
            timeout=10,
        )
        return proc.returncode == 0

    def _start(self, name: str, port: int, argv: list[str], env: dict[str, str]) -> None:
        if running(self._dir, name):
            return
        if port_open(port):
            raise StackError(f"{name} of cluster {self.settings.cluster_name}: port {port} is already in use")
        start_daemon(self._dir, name, argv, env=env)

    def _wait(self, what: str, check: Callable[[], bool], deadline: float, daemon: str) -> None:
        """wait_until with the overall deadline, failing at once (with the log) if `daemon` dies."""

        def check_alive() -> bool:
            # Fail at once with the log tail instead of waiting out the timeout for a dead daemon.
            if not running(self._dir, daemon):
                raise StackError(
                    f"{daemon} of cluster {self.settings.cluster_name} exited while starting; "
                    f"see {log_file(self._dir, daemon)}\n{log_tail(log_file(self._dir, daemon))}"
                )
            return check()

        wait_until(
            check_alive,
            timeout_s=max(deadline - time.monotonic(), 0.5),
            what=f"{what} of cluster {self.settings.cluster_name}",
            log=log_file(self._dir, daemon),
            interval_s=0.02,  # each check is a local syscall or a ~5 ms client call
        )

    def _wait_node_ready(self, deadline: float) -> None:
        resumed = False

        def ready() -> bool:
            nonlocal resumed
            state = self._node_state()
            if state in _READY_NODE_STATES:
                return True
            if state in _RESUMABLE_NODE_STATES and not resumed:
                # Typically a failed epilog from an earlier run; the saved state would keep the node
                # out of service forever.
                reason = self._slurm(["sinfo", "-h", "-N", "-n", self.node_name, "-o", "%E"])
                log.warning("resuming node %s (was %s: %s)", self.node_name, state, (reason or "").strip())
                self._slurm(["scontrol", "update", f"NodeName={self.node_name}", "State=RESUME"])
                resumed = True
            return False

        self._wait(f"node {self.node_name} idle", ready, deadline, "slurmd")

    def _node_state(self) -> str | None:
        out = self._slurm(["sinfo", "-h", "-N", "-n", self.node_name, "-o", "%T"])
        return (out.strip() or None) if out is not None else None

    def _slurm(self, argv: list[str]) -> str | None:
        """Run a Slurm client against this cluster; None if it failed (e.g. slurmctld not up yet)."""
        try:
            proc = subprocess.run(
                argv,
                env={**os.environ, **self.client_env},
                capture_output=True,
                text=True,
                timeout=15,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None
        return proc.stdout if proc.returncode == 0 else None


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return "(no log)"


# ---- finding our processes by PID ---------------------------------------------------------------------
def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, ppid, session id) of a process, or None if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None
    return fields[0], int(fields[1]), int(fields[3])


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def _has_owner(pid: int, needle: bytes) -> bool:
    try:
        return needle in b"\0" + Path(f"/proc/{pid}/environ").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False


def owned_processes(owner: str, roots: Iterable[int | None] = ()) -> set[int]:
    """Live processes started by us for `owner`: those carrying OWNER_ENV=owner plus `roots` (daemon
    PIDs, whose marker setproctitle() may have overwritten), everything in their sessions and all
    their descendants (e.g. a job's shell under slurmstepd, a login shell under sshd)."""
    needle = f"\0{OWNER_ENV}={owner}\0".encode()
    table = {pid: st for pid in _all_pids() if (st := _stat(pid)) is not None and st[0] != "Z"}
    marked = {pid for pid in table if pid in set(roots) or _has_owner(pid, needle)}
    protected = _self_and_ancestors()
    own_sid = os.getsid(0)
    sessions = {table[pid][2] for pid in marked} - {0, 1, own_sid}
    found = marked | {pid for pid, st in table.items() if st[2] in sessions}
    children: dict[int, list[int]] = {}
    for pid, st in table.items():
        children.setdefault(st[1], []).append(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found - protected


def _self_and_ancestors() -> set[int]:
    result = {0, 1}
    pid = os.getpid()
    while pid > 1 and pid not in result:
        result.add(pid)
        st = _stat(pid)
        pid = st[1] if st else 0
    return result


def kill_owned_processes(owner: str, grace_s: float = 3.0, also: Iterable[int] = ()) -> list[int]:
    """TERM, then KILL, every process of `owner` (see owned_processes) and the PIDs in `also`.

    `also` is for processes found earlier as descendants of a daemon that has been stopped since:
    once re-parented to PID 1 they can only be recognised by the marker, and some daemons (sshd's
    setproctitle) overwrite the memory that /proc/PID/environ shows. Returns the PIDs signalled.
    """
    victims = owned_processes(owner) | (set(also) - _self_and_ancestors())
    _signal_all(victims, signal.SIGTERM)
    end = time.monotonic() + grace_s
    while time.monotonic() < end and any(is_alive(pid) for pid in victims):
        time.sleep(0.05)
    # A second look catches children forked while the first ones were dying.
    leftovers = {pid for pid in victims if is_alive(pid)} | owned_processes(owner)
    _signal_all(leftovers, signal.SIGKILL)
    # SIGKILL is asynchronous: wait (briefly) until they are really gone, so that callers can rely
    # on "down() returned" meaning "no process left".
    end = time.monotonic() + 2.0
    while time.monotonic() < end and any(is_alive(pid) for pid in leftovers):
        for pid in leftovers:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        time.sleep(0.01)
    return sorted(victims | leftovers)


def _signal_all(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
