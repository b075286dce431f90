"""OpenLane Cloud job kit: runs ONE job on a Slurm compute node.

Embedded into every batch script by shared/domain/job_script.py; reads its specification (base64 JSON) from the file
$OLC_JOB_SPEC_FILE, or from $OLC_JOB_SPEC. It fetches the design from Cloud Storage, extracts it safely, runs the
flow's stages (argv lists, never through a shell), reports each stage to the completion hook (as it starts, then
every few seconds with the tail of its log), uploads artifacts and finally the result manifest, whose presence tells
the service that the results are complete.

Standard library only and Python 3.6-compatible: compute-node images ship an old system python3 and nothing else of
ours."""

import base64
import glob
import hashlib
import hmac
import json
import os
import posixpath
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from typing import Any, Dict, List

# When the kit's Python had started and imported: the batch script's own start is OLC_SCRIPT_STARTED_AT.
KIT_STARTED_AT = time.time()

METADATA = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default"
EXCERPT_LINES = 25
EXCERPT_CHARS = 4000
# While a stage runs the kit reports every HEARTBEAT_S seconds (the spec's "heartbeat_s") with the end of the
# stage's log, bounded like the service bounds it again (shared/domain/job.py clean_log_tail).
DEFAULT_HEARTBEAT_S = 20.0
TAIL_LINES = 40
TAIL_CHARS = 4000
TAIL_READ_BYTES = 16384
MAX_EXTRACT_BYTES = 1 << 30
TIME_LIMIT_WARNING_WINDOW_S = 60
# How often a flow's run folder is looked at for new steps (a step shown within ~1 s of starting).
STEP_POLL_S = 0.25
UPLOAD_THREADS = 8
# How long the end of a run waits for progress reports still on their way (they are sent in the background).
REPORT_FLUSH_S = 5.0


class KitError(Exception):
    """A failure of the kit itself (not of the flow); its message becomes the job's error excerpt."""


def log(message: str) -> None:
    print("[olc-job {}] {}".format(time.strftime("%H:%M:%S"), message), flush=True)


# ---------------------------------------------------------------------------------------------- Cloud Storage
class Storage:
    def __init__(self, endpoint: str, auth: str) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.auth = auth
        self._token = None  # type: Optional[str]
        self._token_expiry = 0.0

    def _headers(self) -> Dict[str, str]:
        if self.auth != "metadata":
            return {}
        if self._token is None or time.time() > self._token_expiry:
            request = urllib.request.Request(METADATA + "/token", headers={"Metadata-Flavor": "Google"})
            with urllib.request.urlopen(request, timeout=10) as reply:
                token = json.loads(reply.read().decode())
            self._token = token["access_token"]
            self._token_expiry = time.time() + int(token.get("expires_in", 300)) - 60
        return {"Authorization": "Bearer " + str(self._token)}

    def download(self, bucket: str, name: str, generation: int, path: str) -> None:
        url = "{}/download/storage/v1/b/{}/o/{}?alt=media&generation={}".format(
            self.endpoint,
            urllib.parse.quote(bucket, safe=""),
            urllib.parse.quote(name, safe=""),
            int(generation),
        )
        request = urllib.request.Request(url, headers=self._headers())
        with _retrying(lambda: urllib.request.urlopen(request, timeout=60)) as reply, open(path, "wb") as out:
            shutil.copyfileobj(reply, out, 1 << 20)

    def upload(self, bucket: str, name: str, path: str, content_type: str = "application/octet-stream") -> None:
        url = "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}".format(
            self.endpoint, urllib.parse.quote(bucket, safe=""), urllib.parse.quote(name, safe="")
        )
        with open(path, "rb") as data:
            body = data.read()
        headers = dict(self._headers(), **{"Content-Type": content_type})
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        _retrying(lambda: urllib.request.urlopen(request, timeout=120)).close()


def _retrying(call: Any, attempts: int = 5) -> Any:
    delay = 1.0
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except (OSError, urllib.error.URLError) as exc:
            if attempt == attempts or (isinstance(exc, urllib.error.HTTPError) and exc.code < 500):
                raise
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------------ completion hook
class Hook:
    """Progress reports to the completion hook, delivered in order by one background thread: the run never waits
    for the service (a report used to cost the run a round trip before each stage)."""

    MAX_PENDING = 100  # beyond this a slow or absent hook costs heartbeats, never memory

    def __init__(self, spec: Dict[str, Any], job_id: str) -> None:
        self.url = spec["url"]
        self.auth = spec.get("auth", "none")
        self.key = spec["key"]
        self.job_id = job_id
        self.seq = 0
        self.run_index = None  # type: Optional[int]
        self._pending = []  # type: List[Dict[str, Any]]
        self._changed = threading.Condition()
        self._sender = None  # type: Optional[threading.Thread]
        self._sending = False  # the first pending report is on its way: it is no longer changed

    def report(self, payload: Dict[str, Any]) -> None:
        """Best effort: progress is nice to have, the epilog and the manifest carry the outcome."""
        # The hook refuses a signature it has seen; two equal reports within one second would sign alike.
        self.seq += 1
        fields = dict(payload, job_id=self.job_id, slurm_job_id=os.environ.get("SLURM_JOB_ID"), seq=self.seq)
        if self.run_index is not None:
            fields["run"] = self.run_index
        with self._changed:
            # A report of the same stage still waiting to go says no more than this one with it: one call, not two
            # (a short stage's start and its final lines; heartbeats behind a slow hook).
            waiting = self._pending[1:] if self._sending else self._pending
            if waiting and (waiting[-1].get("kind"), waiting[-1].get("stage")) == (fields["kind"], fields.get("stage")):
                waiting[-1].update(fields)
                return
            if len(self._pending) >= self.MAX_PENDING:
                log("progress report dropped: {} still undelivered".format(len(self._pending)))
                return
            self._pending.append(fields)
            self._changed.notify_all()
            if self._sender is None:
                self._sender = threading.Thread(target=self._send_all, name="olc-hook", daemon=True)
                self._sender.start()

    def flush(self, timeout_s: float) -> None:
        """Wait, at most `timeout_s`, for the reports still on their way: the run's last log lines should reach the
        job before its end does."""
        deadline = time.time() + timeout_s
        with self._changed:
            while self._pending and time.time() < deadline:
                self._changed.wait(max(deadline - time.time(), 0.001))

    def _send_all(self) -> None:
        while True:
            with self._changed:
                while not self._pending:
                    self._changed.wait()
                fields = self._pending[0]
                self._sending = True
            self._deliver(fields)
            with self._changed:
                self._pending.pop(0)
                self._sending = False
                self._changed.notify_all()

    def _deliver(self, fields: Dict[str, Any]) -> None:
        body = json.dumps(fields).encode()
        stamp = int(time.time())
        signature = hmac.new(self.key.encode(), str(stamp).encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-OLC-Timestamp": str(stamp),
            "X-OLC-Signature": signature,
        }
        try:
            if self.auth == "google-id-token":
                headers["Authorization"] = "Bearer " + _identity_token(self.url)
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            urllib.request.urlopen(request, timeout=10).close()
        except (OSError, urllib.error.URLError, ValueError) as exc:
            log("progress report not delivered ({}); carrying on".format(exc))


def _identity_token(audience: str) -> str:
    url = METADATA + "/identity?audience=" + urllib.parse.quote(audience, safe="")
    request = urllib.request.Request(url, headers={"Metadata-Flavor": "Google"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return reply.read().decode().strip()


# ---------------------------------------------------------------------------------------- safe extraction
def safe_relative(raw: str) -> str:
    name = raw.replace("\\", "/") if "\\" in raw and "/" not in raw else raw
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or not parts or ".." in parts or any(ord(c) < 32 for c in name):
        raise KitError("unsafe path in the design archive: {!r}".format(raw))
    return posixpath.join(*parts)


def extract_design(archive: str, root: str, target: str) -> None:
    """Extract the regular files below `root` into `target`; links, devices and escaping paths are refused."""
    os.makedirs(target)
    total = 0
    with open(archive, "rb") as handle:
        is_zip = handle.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    members = _zip_members(archive) if is_zip else _tar_members(archive)
    for name, size, opener in members:
        path = safe_relative(name)
        if not path.startswith(root) or path == root.rstrip("/"):
            continue
        total += size
        if total > MAX_EXTRACT_BYTES:
            raise KitError("the design unpacks to more than {} bytes".format(MAX_EXTRACT_BYTES))
        destination = os.path.join(target, *path[len(root) :].split("/"))
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        with opener() as source, open(destination, "xb") as out:
            shutil.copyfileobj(source, out)


def _tar_members(archive: str) -> Any:
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            if member.isdir():
                continue
            if not member.isfile():
                raise KitError("design archive entry {!r} is not a regular file".format(member.name))
            yield member.name, member.size, lambda m=member: tar.extractfile(m)


def _zip_members(archive: str) -> Any:
    with zipfile.ZipFile(archive) as zipped:
        for info in zipped.infolist():
            if info.is_dir():
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise KitError("design archive entry {!r} is a link".format(info.filename))
            yield info.filename, info.file_size, lambda i=info: zipped.open(i)


# ------------------------------------------------------------------------------------------ per-step progress
_LIBRELANE_STEP_DIR = re.compile(r"^(\d+)-([A-Za-z0-9_.-]+)$")
_LIBRELANE_RUNNING = re.compile(r"Running '([^']+)' at '([^']+)'")


def _slug(step_id: str) -> str:
    """LibreLane's folder name for a step id: "Yosys.Synthesis" -> "yosys-synthesis"."""
    return step_id.lower().replace(".", "-")


def _started_at(folder: str) -> float:
    """When a step began: its folder's first files are written as it starts (LibreLane: config.json, state_in.json),
    so the oldest of them beats the time of the poll that found the folder by up to a poll interval."""
    now = time.time()
    try:
        with os.scandir(folder) as entries:
            stamps = [entry.stat().st_mtime for entry in entries]
        stamps.append(os.stat(folder).st_mtime)
    except OSError:
        return now
    return min(*stamps, now)


class StepWatcher:
    """Reads a flow's run folder while the flow runs, for the steps that have started (see FlowPlan.progress).

    LibreLane writes <run>/NN-<step-slug>/ as each step starts and names the step in flow.log ("Running
    'Yosys.Synthesis' at 'runs/t/06-yosys-synthesis'"); OpenLane 1 writes <run>/logs/<stage>/ folders."""

    def __init__(self, spec: Dict[str, Any], work: str) -> None:
        self.stage = spec["stage"]
        self.layout = spec["layout"]
        self.run_dir = os.path.join(work, *[p for p in spec["run_dir"].split("/") if p])
        self.steps = list(spec.get("steps") or [])
        self.total = spec.get("total")
        self.seen = []  # type: List[Dict[str, Any]]
        self._known_dirs = set()  # type: set

    def poll(self) -> List[Dict[str, Any]]:
        """Steps that started since the last call, oldest first: {"id", "index", "total", "started_at", "dir"}."""
        found = self._librelane() if self.layout == "librelane" else self._openlane1()
        fresh = []
        for step in found:
            if step["dir"] in self._known_dirs:
                continue
            self._known_dirs.add(step["dir"])
            step["total"] = self.total
            step["started_at"] = round(_started_at(step["dir"]), 3)
            self.seen.append(step)
            fresh.append(step)
        return fresh

    @property
    def current(self) -> Any:
        return self.seen[-1] if self.seen else None

    def _librelane(self) -> List[Dict[str, Any]]:
        try:
            names = os.listdir(self.run_dir)
        except OSError:
            return []
        folders = []
        for name in names:
            match = _LIBRELANE_STEP_DIR.match(name)
            path = os.path.join(self.run_dir, name)
            # Only new folders: flow.log grows over a long flow and is read only when a step has just started.
            if match and path not in self._known_dirs and os.path.isdir(path):
                folders.append((int(match.group(1)), name, match.group(2)))
        if not folders:
            return []
        named = self._ids_from_flow_log()
        by_slug = dict((_slug(s), s) for s in self.steps)
        steps = []
        for number, name, slug in sorted(folders):
            # flow.log names the step exactly; the planned list maps a slug back; else the folder's own name.
            step_id = named.get(name) or by_slug.get(slug) or slug
            steps.append({"id": step_id, "index": number, "dir": os.path.join(self.run_dir, name)})
        return steps

    def _ids_from_flow_log(self) -> Dict[str, str]:
        try:
            with open(os.path.join(self.run_dir, "flow.log"), errors="replace") as handle:
                text = handle.read(1 << 20)
        except OSError:
            return {}
        return dict((posixpath.basename(path.rstrip("/")), step) for step, path in _LIBRELANE_RUNNING.findall(text))

    def _openlane1(self) -> List[Dict[str, Any]]:
        logs = os.path.join(self.run_dir, "logs")
        try:
            names = [n for n in os.listdir(logs) if os.path.isdir(os.path.join(logs, n))]
        except OSError:
            return []
        order = dict((stage, i) for i, stage in enumerate(self.steps, start=1))
        names.sort(key=lambda n: (order.get(n, len(order) + 1), n))
        return [{"id": n, "index": order.get(n), "dir": os.path.join(logs, n)} for n in names]

    def step_logs(self, step: Dict[str, Any]) -> List[str]:
        """The step's own log files, newest last."""
        paths = glob.glob(os.path.join(step["dir"], "*.log"))
        return sorted(paths, key=lambda p: (os.path.getmtime(p), p))


# ------------------------------------------------------------------------------------------------- the run
class Run:
    def __init__(self, spec: Dict[str, Any], base_dir: str) -> None:
        self.spec = spec
        self.job_id = spec["job_id"]
        self.work = os.path.join(base_dir, "work")
        self.storage = Storage(spec["storage"]["endpoint"], spec["storage"].get("auth", "none"))
        self.hook = Hook(spec["hook"], self.job_id)
        self.hook.run_index = spec.get("run_index")
        self.stages = []  # type: List[Dict[str, Any]]
        self.current = None  # type: Optional[subprocess.Popen]
        self.terminated = False
        self.terminated_reason = None  # type: Optional[str]
        self.started = time.time()
        # When each phase of the run ended (bench/latency.py breaks a job's overhead down by them).
        self.timings = {"script_started_at": _env_time("OLC_SCRIPT_STARTED_AT"), "kit_started_at": KIT_STARTED_AT}
        progress = spec.get("progress")
        self.watcher = StepWatcher(progress, self.work) if progress else None
        self.steps = []  # type: List[Dict[str, Any]]
        # (stage, log tail) of the last report that carried the stage's log: a heartbeat with nothing new is not
        # sent (a thousand quiet runs would otherwise keep the hook and Firestore busy with no news).
        self.sent_tail = None  # type: Optional[Any]

    def on_terminate(self, signum: int, _frame: Any) -> None:
        """Cancel or time limit: stop the running stage, then finish normally so partial results are kept."""
        self.terminated = True
        # Slurm warns the batch script shortly before the time limit (--signal=B:TERM@30); a cancel signals at any
        # time. Saying which lets the service report TIMEOUT although the run ends before Slurm's own kill.
        limit_s = 60.0 * float(self.spec.get("time_limit_minutes") or 0)
        near_limit = limit_s > 0 and time.time() - self.started >= limit_s - TIME_LIMIT_WARNING_WINDOW_S
        self.terminated_reason = "time-limit" if near_limit else "signal"
        log("received signal {} ({}); stopping the flow".format(signum, self.terminated_reason))
        if self.current is not None and self.current.poll() is None:
            try:
                os.killpg(self.current.pid, signal.SIGTERM)
            except OSError:
                pass

    def execute(self) -> int:
        exit_code = None  # type: Optional[int]
        failed_stage = None  # type: Optional[str]
        excerpt = None  # type: Optional[str]
        try:
            self.fetch_design()
            self.timings["design_fetched_at"] = time.time()
            exit_code, failed_stage, excerpt = self.run_stages()
        except (KitError, OSError, ValueError, EOFError, zlib.error, tarfile.TarError, zipfile.BadZipFile) as exc:
            exit_code, failed_stage, excerpt = 1, "setup", "{}: {}".format(type(exc).__name__, exc)
            log(excerpt)
        self.timings["stages_ended_at"] = time.time()
        files = self.upload_results()
        self.timings["results_uploaded_at"] = time.time()
        # From here on the run waits only for the network, and the job (so its end report) only for the run: the
        # work folder of a success goes meanwhile (a big run's thousands of files on a shared file system), and the
        # manifest goes up while the last progress reports may still be on their way. Only the end of the run is read
        # from the manifest, and the end comes from the epilog, after this process has exited, so after the flush.
        cleanup = None  # type: Optional[threading.Thread]
        if exit_code == 0 and not self.terminated and not self.spec.get("keep_workdir"):
            cleanup = threading.Thread(target=shutil.rmtree, args=(self.work, True), name="olc-cleanup", daemon=True)
            cleanup.start()
        self.write_manifest(exit_code, failed_stage, excerpt, files)
        self.hook.flush(REPORT_FLUSH_S)
        if cleanup is not None:
            cleanup.join()
        return 143 if self.terminated else (0 if exit_code == 0 else 1)

    def fetch_design(self) -> None:
        self.hook.report({"kind": "progress", "stage": "fetching design"})
        design = self.spec["design"]
        if os.path.exists(self.work):
            shutil.rmtree(self.work)  # a requeued run starts clean
        os.makedirs(os.path.join(self.work, "logs"))
        archive = os.path.join(self.work, "upload.archive")
        self.storage.download(design["bucket"], design["name"], design["generation"], archive)
        extract_design(archive, design.get("root", ""), os.path.join(self.work, "design"))
        os.remove(archive)

    def run_stages(self) -> Any:
        log_path = None  # type: Optional[str]
        for index, stage in enumerate(self.spec["stages"], start=1):
            if self.terminated:
                return 143, stage["name"], "stopped before stage '{}'".format(stage["name"])
            self.hook.report({"kind": "progress", "stage": stage["name"]})
            self.sent_tail = (stage["name"], "")
            log_path = os.path.join(self.work, "logs", "{:02d}-{}.log".format(index, stage["name"]))
            code, seconds = self.run_stage(stage, log_path)
            self.stages.append({"name": stage["name"], "exit_code": code, "runtime_s": round(seconds, 3)})
            log("stage {} exited {} after {:.1f} s".format(stage["name"], code, seconds))
            if code != 0:
                failed = self.failed_step(stage["name"])
                if not self.terminated:  # a stopped run has seconds left for its results: no extra call
                    self.report_tail(failed["id"] if failed else stage["name"], log_path, always=True)
                if failed is not None:
                    return code, failed["id"], step_excerpt(log_path, self.watcher.step_logs(failed))
                return code, stage["name"], error_excerpt(log_path)
        if log_path is not None:
            self.report_tail(self.label(self.stages[-1]["name"]), log_path)
        return 0, None, None

    def watched(self, stage: str) -> bool:
        return self.watcher is not None and self.watcher.stage == stage

    def label(self, stage: str) -> str:
        """What the user sees as the running stage: inside a watched flow, its current step."""
        if self.watched(stage) and self.watcher.current is not None:
            return self.watcher.current["id"]
        return stage

    def failed_step(self, stage: str) -> Any:
        """The step a watched flow stopped in: the last one that started."""
        if not self.watched(stage):
            return None
        self.report_steps()
        return self.watcher.current

    def report_steps(self) -> None:
        for step in self.watcher.poll():
            if self.steps:
                self.steps[-1]["runtime_s"] = round(step["started_at"] - self.steps[-1]["started_at"], 3)
            self.steps.append(dict((k, step[k]) for k in ("id", "index", "total", "started_at")))
            self.hook.report(
                {
                    "kind": "progress",
                    "stage": step["id"],
                    "step": {"index": step["index"], "total": step["total"], "started_at": step["started_at"]},
                }
            )

    def report_tail(self, stage: str, log_path: str, always: bool = False) -> None:
        """The stage's last lines: a heartbeat while it runs, and once more when the run's last stage ended, so the
        job keeps the final lines rather than those of the last heartbeat; unless `always`, only when they changed
        since the stage's last report."""
        tail = log_tail(log_path)
        if not always and self.sent_tail == (stage, tail):
            return
        self.sent_tail = (stage, tail)
        self.hook.report({"kind": "progress", "stage": stage, "log_tail": tail})

    def run_stage(self, stage: Dict[str, Any], log_path: str) -> Any:
        env = dict(os.environ)
        # The stage runs design-controlled tools: keep the hook key (in the spec) from them.
        env.pop("OLC_JOB_SPEC", None)
        env.pop("OLC_JOB_SPEC_FILE", None)
        env.update(stage.get("env") or {})
        cwd = os.path.join(self.work, *[p for p in stage.get("cwd", ".").split("/") if p])
        os.makedirs(cwd, exist_ok=True)
        began = time.time()
        with open(log_path, "wb") as out:
            self.current = subprocess.Popen(
                stage["argv"],
                cwd=cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            code = self.wait_reporting(stage["name"], log_path)
        self.current = None
        if self.watched(stage["name"]):
            self.report_steps()  # steps too short for a poll still count
            if self.steps and "runtime_s" not in self.steps[-1]:
                self.steps[-1]["runtime_s"] = round(time.time() - self.steps[-1]["started_at"], 3)
        return code, time.time() - began

    def wait_reporting(self, stage: str, log_path: str) -> int:
        """Wait for the stage, reporting its log tail every heartbeat and, in a watched flow, each step as it
        starts."""
        interval = max(float(self.spec.get("heartbeat_s") or DEFAULT_HEARTBEAT_S), 0.05)
        watched = self.watched(stage)
        next_beat = time.time() + interval
        while True:
            timeout = min(STEP_POLL_S, interval) if watched else interval
            try:
                return self.current.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                if self.terminated:
                    continue
                if watched:
                    self.report_steps()
                if time.time() >= next_beat:
                    self.report_tail(self.label(stage), log_path)
                    next_beat = time.time() + interval

    def upload_results(self) -> List[str]:
        """Every result file, UPLOAD_THREADS at a time (one request each: the round trips, not the bytes, are what
        a small run's results cost); the files that made it, in the order they were found."""
        results = self.spec["results"]
        wanted = list(self.spec.get("artifacts", [])) + list(self.spec.get("metrics_files", [])) + ["logs/*.log"]
        found = []  # type: List[Any]
        for pattern in wanted:
            for path in sorted(glob.glob(os.path.join(self.work, pattern), recursive=True)):
                relative = os.path.relpath(path, self.work).replace(os.sep, "/")
                if os.path.isfile(path) and not os.path.islink(path) and relative not in (r for _, r in found):
                    found.append((path, relative))

        def upload(item: Any) -> bool:
            path, relative = item
            try:
                self.storage.upload(results["bucket"], results["prefix"] + "files/" + relative, path)
                return True
            except (OSError, urllib.error.URLError) as exc:
                log("could not upload {}: {}".format(relative, exc))
                return False

        done = parallel_map(upload, found, UPLOAD_THREADS)
        return [found[i][1] for i, ok in enumerate(done) if ok]

    def write_manifest(self, exit_code: Any, failed_stage: Any, excerpt: Any, files: List[str]) -> None:
        reached = self.stages[-1]["name"] if self.stages else None
        manifest = {
            "job_id": self.job_id,
            "slurm_job_id": os.environ.get("SLURM_JOB_ID"),
            "run_index": self.spec.get("run_index"),
            "host": socket.gethostname(),
            "flow_exit_code": exit_code,
            "stage_reached": reached,
            "failed_stage": failed_stage,
            "stages": self.stages,
            "steps": self.steps,
            "runtime_s": round(sum(s["runtime_s"] for s in self.stages), 3),
            "wall_s": round(time.time() - self.started, 3),
            "peak_memory_mb": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0, 1),
            "error_excerpt": excerpt,
            "files": files,
            "terminated": self.terminated,
            "terminated_reason": self.terminated_reason,
            "timings": self.timings,
        }
        path = os.path.join(os.path.dirname(self.work), "manifest.json")
        with open(path, "w") as out:
            json.dump(manifest, out, indent=2)
        results = self.spec["results"]
        self.storage.upload(results["bucket"], results["prefix"] + "manifest.json", path, "application/json")
        log("manifest uploaded: flow exit {}".format(exit_code))


def parallel_map(function: Any, items: List[Any], threads: int) -> List[Any]:
    """[function(item) for item in items], `threads` at a time, in the items' order; the first exception raised is
    raised here once every thread has stopped. (Not concurrent.futures: importing it, logging included, cost every
    run ~5 ms before its design was fetched.)"""
    results = [None] * len(items)  # type: List[Any]
    errors = []  # type: List[BaseException]
    pending = iter(range(len(items)))
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(pending, None) if not errors else None
            if index is None:
                return
            try:
                results[index] = function(items[index])
            except BaseException as exc:  # re-raised in the calling thread
                with lock:
                    errors.append(exc)

    workers = [threading.Thread(target=work, name="olc-pool", daemon=True) for _ in range(min(threads, len(items)))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if errors:
        raise errors[0]
    return results


def _env_time(name: str) -> Any:
    """A Unix time the batch script put in the environment (`date +%s.%N`), or None."""
    try:
        return float(os.environ[name])
    except (KeyError, ValueError):
        return None


def error_excerpt(log_path: str) -> str:
    """The lines a designer needs: those that say error, then the tail of the log."""
    try:
        with open(log_path, errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return ""
    flagged = [line for line in lines if "error" in line.lower()][:EXCERPT_LINES]
    tail = [line for line in lines[-EXCERPT_LINES:] if line not in flagged]
    text = "\n".join(flagged + (["..."] if flagged and tail else []) + tail)
    return text[-EXCERPT_CHARS:]


def step_excerpt(stage_log: str, step_logs: List[str]) -> str:
    """A failed step's own words: the flow's error lines about it, then the excerpt of the step's newest log (not
    the end of the whole flow's combined log)."""
    try:
        with open(stage_log, errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        lines = []
    # LibreLane's console pads a message to the source location at the right margin: fold the padding.
    flagged = [
        re.sub(r"\s{3,}", "  ", line.strip()) for line in lines if re.search(r"\bERROR\b|\[ERROR|^%?Error", line)
    ][-8:]
    parts = ["\n".join(flagged)] if flagged else []
    for path in step_logs[-1:]:
        excerpt = error_excerpt(path)
        if excerpt:
            parts.append("--- {} ---\n{}".format(os.path.basename(path), excerpt))
    text = "\n".join(parts) or error_excerpt(stage_log)
    return text[-EXCERPT_CHARS:]


def log_tail(log_path: str) -> str:
    """The last TAIL_LINES lines of a log that may still be growing, at most TAIL_CHARS characters."""
    try:
        with open(log_path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - TAIL_READ_BYTES))
            data = handle.read(TAIL_READ_BYTES)
    except OSError:
        return ""
    lines = data.decode("utf-8", errors="replace").splitlines()
    if size > TAIL_READ_BYTES:
        lines = lines[1:]  # the first line read is most likely cut
    return "\n".join(lines[-TAIL_LINES:])[-TAIL_CHARS:]


def for_array_task(spec: Dict[str, Any], task: str) -> Dict[str, Any]:
    """A sweep's spec as one of its runs sees it: that run's stages and files, its own results folder."""
    index = int(task)
    chosen = spec["runs"][index]
    results = dict(spec["results"], prefix="{}runs/{}/".format(spec["results"]["prefix"], index))
    merged = dict(spec, results=results, run_index=index)
    for key in ("stages", "artifacts", "metrics_files"):
        merged[key] = chosen[key]
    merged["progress"] = chosen.get("progress")
    del merged["runs"]
    return merged


def main() -> int:
    if "OLC_JOB_SPEC_FILE" in os.environ:
        with open(os.environ["OLC_JOB_SPEC_FILE"], "rb") as handle:
            encoded = handle.read().strip()
        os.remove(os.environ["OLC_JOB_SPEC_FILE"])  # it holds the run's hook key
    else:
        encoded = os.environ["OLC_JOB_SPEC"].encode()
    spec = json.loads(base64.b64decode(encoded).decode())
    base_dir = os.getcwd()
    if "runs" in spec:
        spec = for_array_task(spec, os.environ["SLURM_ARRAY_TASK_ID"])
        # Array tasks share the job's folder and may run side by side on one node.
        base_dir = os.path.join(base_dir, "run-{}".format(spec["run_index"]))
        os.makedirs(base_dir, exist_ok=True)
    run = Run(spec, base_dir)
    signal.signal(signal.SIGTERM, run.on_terminate)
    log("job {} (Slurm {}) on {}".format(run.job_id, os.environ.get("SLURM_JOB_ID"), socket.gethostname()))
    return run.execute()


def run_and_exit() -> None:
    """The batch script's entry point (infra/slurm/job.sh.tmpl imports the kit and calls this)."""
    code = main()
    # Straight out: the interpreter's teardown (~5 ms) would hold up the job's end, its epilog and the end report.
    # Every file the run wrote is closed by now; only the console streams may hold output.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run_and_exit()
