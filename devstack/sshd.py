"""An OpenSSH server on 127.0.0.1 that plays the cluster's login node for the local stack.

It has its own config, host key and PID file in its state dir, so it coexists with the machine's own
sshd (if any) and with another LocalSshd on another port.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.debian import ensure_packages
from devstack.process import (
    StackError,
    log_file,
    port_open,
    read_pid,
    running,
    start_daemon,
    stop_daemon,
    wait_until,
)
from devstack.slurm import OWNER_ENV, kill_owned_processes, log_tail, owned_processes

_SSHD = "/usr/sbin/sshd"  # sshd refuses to start from a relative path (it re-executes itself)
_USERNAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class SshdSettings:
    state_dir: Path
    port: int
    login_user: str  # created with useradd if missing, with a home dir
    authorized_keys: str  # OpenSSH public key line(s) that may log in as login_user
    session_env: Mapping[str, str] = field(default_factory=dict)  # e.g. SLURM_CONF for every session


class LocalSshd:
    PACKAGES: tuple[str, ...] = ("openssh-server", "openssh-client")

    def __init__(self, settings: SshdSettings) -> None:
        if not settings.state_dir.is_absolute():
            raise ValueError(f"state_dir must be absolute: {settings.state_dir}")
        if not _USERNAME_RE.match(settings.login_user):
            raise ValueError(f"not a portable user name: {settings.login_user!r}")
        for name, value in settings.session_env.items():
            # sshd_config has no escaping inside quotes: refuse what it cannot carry.
            if not _ENV_NAME_RE.match(name) or any(c in value for c in '"\n\r\0'):
                raise ValueError(f"session_env {name}={value!r} cannot be expressed in sshd_config")
        self.settings = settings
        self._dir = settings.state_dir
        self._owner = f"sshd:{self._dir}"

    @property
    def config_path(self) -> Path:
        return self._dir / "sshd_config"

    @property
    def _host_key(self) -> Path:
        return self._dir / "ssh_host_ed25519_key"

    @property
    def authorized_keys_name(self) -> str:
        # One file per sshd instance in the user's ~/.ssh: two stacks may share a login user, and
        # each must accept only its own client key. Inside the home dir, StrictModes stays happy
        # (a file under /tmp would fail it: /tmp is world-writable).
        return f".ssh/authorized_keys.olc-{self.settings.port}"

    @property
    def host_public_key(self) -> str:
        """`<type> <base64>` of the host key, for clients to pin (known_hosts `[127.0.0.1]:<port> ...`).

        The key is created on first use, so it can be handed out before up().
        """
        self._ensure_host_key()
        key_type, blob = (self._host_key.with_suffix(".pub")).read_text().split()[:2]
        return f"{key_type} {blob}"

    def up(self, timeout_s: float = 20) -> None:
        """Create the login user, write the config and start sshd if needed. Idempotent."""
        deadline = time.monotonic() + timeout_s
        ensure_packages(self.PACKAGES)
        self._dir.mkdir(parents=True, exist_ok=True)
        self._dir.chmod(0o755)
        self._ensure_host_key()
        self._ensure_user()
        # sshd's privilege-separated children chroot here; a tmpfs /run loses it on every boot.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        changed = self._write_config(self.render_config())
        if changed and running(self._dir, "sshd"):
            # Only the listener restarts: open sessions are separate processes and carry on.
            stop_daemon(self._dir, "sshd")
        if running(self._dir, "sshd"):
            return
        check = subprocess.run([_SSHD, "-t", "-f", str(self.config_path)], capture_output=True, text=True, check=False)
        if check.returncode != 0:
            raise StackError(f"sshd rejects {self.config_path}: {check.stderr.strip()}")
        if port_open(self.settings.port):
            raise StackError(f"sshd: port {self.settings.port} is already in use")
        # -D: stay in the foreground so start_daemon tracks the real PID; -e: log to stderr (our log).
        start_daemon(
            self._dir,
            "sshd",
            [_SSHD, "-D", "-e", "-f", str(self.config_path)],
            env={**os.environ, OWNER_ENV: self._owner},
        )

        def listening() -> bool:
            if not running(self._dir, "sshd"):
                raise StackError(f"sshd exited while starting:\n{log_tail(log_file(self._dir, 'sshd'))}")
            return port_open(self.settings.port)

        wait_until(
            listening,
            timeout_s=max(deadline - time.monotonic(), 0.5),
            what=f"sshd on port {self.settings.port}",
            log=log_file(self._dir, "sshd"),
            interval_s=0.05,
        )

    def down(self) -> None:
        """Stop the listener and every session it spawned (each session runs in its own process session)."""
        # Each connection's sshd runs in its own session and is re-parented to PID 1 when the listener
        # exits (which leaves sessions open on purpose), and sshd's setproctitle() overwrites our
        # marker in /proc/PID/environ: collect them as the listener's descendants while it lives.
        sessions = owned_processes(self._owner, roots=[read_pid(self._dir, "sshd")])
        stop_daemon(self._dir, "sshd")
        kill_owned_processes(self._owner, grace_s=1.0, also=sessions)
        with contextlib.suppress(KeyError, FileNotFoundError):
            # Revoke this instance's client key: it has no use once the sshd is gone.
            home = Path(pwd.getpwnam(self.settings.login_user).pw_dir)
            (home / self.authorized_keys_name).unlink()

    def status(self) -> dict[str, str]:
        if not running(self._dir, "sshd"):
            return {"sshd": "down"}
        return {"sshd": "up" if port_open(self.settings.port) else "starting"}

    def render_config(self) -> str:
        s = self.settings
        lines = [
            "# Generated by devstack/sshd.py on every up(); edits are overwritten.",
            f"Port {s.port}",
            "ListenAddress 127.0.0.1",
            "AddressFamily inet",
            f"HostKey {self._host_key}",
            f"PidFile {self._dir / 'sshd.pid'}",
            f"AllowUsers {s.login_user}",
            f"AuthorizedKeysFile {self.authorized_keys_name}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin no",
            # No PAM: nothing to configure, no pam_systemd. Side effect: a useradd'ed user with a "!"
            # password is "locked" and refused, hence `usermod -p '*'` in _ensure_user.
            "UsePAM no",
            "StrictModes yes",
            # Clients open many channels/connections at once (one exec per sbatch/squeue).
            "MaxSessions 200",
            "MaxStartups 200:30:400",
            "LoginGraceTime 30",
            "UseDNS no",
            "PrintMotd no",
            "PrintLastLog no",
            "X11Forwarding no",
            "AllowAgentForwarding no",
            "AllowTcpForwarding no",
            "PermitTunnel no",
            "PermitUserEnvironment no",
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
        ]
        if s.session_env:
            # One line: sshd keeps only the first SetEnv line it reads.
            pairs = " ".join(f'"{name}={value}"' for name, value in sorted(s.session_env.items()))
            lines.append(f"SetEnv {pairs}")
        return "\n".join(lines) + "\n"

    def _write_config(self, text: str) -> bool:
        with contextlib.suppress(FileNotFoundError):
            if self.config_path.read_text() == text:
                return False
        tmp = self.config_path.with_name(f".sshd_config.{os.getpid()}.tmp")
        tmp.write_text(text)
        tmp.chmod(0o644)
        tmp.replace(self.config_path)
        return True

    def _ensure_host_key(self) -> None:
        if self._host_key.exists() and self._host_key.with_suffix(".pub").exists():
            return
        self._dir.mkdir(parents=True, exist_ok=True)
        for path in (self._host_key, self._host_key.with_suffix(".pub")):
            path.unlink(missing_ok=True)
        comment = f"olc-local-sshd-{self.settings.port}"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(self._host_key)],
            check=True,
            capture_output=True,
        )

    def _ensure_user(self) -> None:
        user = self.settings.login_user
        # Two stacks starting together may race on /etc/passwd: useradd/usermod then fail with
        # "cannot lock /etc/passwd" (or useradd with 9, "already exists"). Re-check and retry.
        failure = ""
        for _ in range(12):
            try:
                pwd.getpwnam(user)
            except KeyError:
                proc = _run(["useradd", "--create-home", "--user-group", "--shell", "/bin/bash", user])
            else:
                if not _password_locked(user):
                    break
                # useradd leaves the password "!" (locked); with UsePAM no, sshd refuses locked
                # accounts even for public keys. "*" = no password can ever match, but not locked.
                proc = _run(["usermod", "-p", "*", user])
            if proc.returncode != 0:
                failure = f"{proc.args[0]} {user} failed: {proc.stderr.strip()}"
                time.sleep(0.2)
        else:
            raise StackError(failure or f"could not create and unlock user {user}")
        entry = pwd.getpwnam(user)
        home = Path(entry.pw_dir)
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(mode=0o700, exist_ok=True)
        os.chown(ssh_dir, entry.pw_uid, entry.pw_gid)
        keys = home / self.authorized_keys_name
        text = self.settings.authorized_keys.strip() + "\n"
        with contextlib.suppress(FileNotFoundError):
            if keys.read_text() == text:
                return
        tmp = keys.with_name(f".{keys.name}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
        os.chown(tmp, entry.pw_uid, entry.pw_gid)
        tmp.replace(keys)


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)


def _password_locked(user: str) -> bool:
    for line in Path("/etc/shadow").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name == user:
            return rest.startswith("!")
    return True
