"""devstack/usage_proxy.py counts known operations on the real emulators exactly, and forwards them unchanged.

Real Firestore and Pub/Sub emulators on free ports, the proxy in this process in front of them, and the official
clients pointed at the proxy: what each operation must cost by Firestore's and Pub/Sub's billing rules is known, so
the proxy's log must say exactly that.
"""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.cloud import firestore, pubsub_v1
from google.cloud.firestore_v1.base_query import FieldFilter

from devstack import process
from devstack.stack import FIRESTORE_EMULATOR, PUBSUB_EMULATOR
from devstack.usage_proxy import Route, UsageProxy, process_label, read_log


@pytest.fixture(scope="module", autouse=True)
def emulators_installed() -> None:
    # The machine's gcloud provides them (the stack starts them the same way): missing means setup is broken.
    if not (FIRESTORE_EMULATOR.exists() and PUBSUB_EMULATOR.exists()):
        pytest.fail("the Firestore and Pub/Sub emulators (gcloud components) are not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Upstream(http.server.BaseHTTPRequestHandler):
    """Stands in for a function: answers 201 with what it received."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = json.dumps({"path": self.path, "body": body.decode()}).encode()
        self.send_response(201)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Counted:
    """The proxy's log from a mark on: each test looks at the calls it made."""

    def __init__(self, log: Path, ports: dict[str, int]) -> None:
        self.log = log
        self.ports = ports
        self.mark = 0

    def since_mark(self) -> list[dict[str, Any]]:
        # A streamed call is logged when its stream ends, which a client that has its answer need not wait for.
        events = read_log(self.log)[self.mark :]
        while True:
            time.sleep(0.2)
            later = read_log(self.log)[self.mark :]
            if len(later) == len(events):
                break
            events = later
        self.mark += len(events)
        return events

    def totals(self) -> dict[str, int]:
        events = self.since_mark()
        return {key: sum(e.get(key, 0) for e in events) for key in ("reads", "writes", "messages")}


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Counted]:
    state = tmp_path_factory.mktemp("usage-proxy")
    ports = {name: free_port() for name in ("firestore", "pubsub", "firestore_up", "pubsub_up", "http", "http_up")}
    env = {**os.environ, "CLOUDSDK_CONFIG": str(state / "gcloud"), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
    firestore_argv = [str(FIRESTORE_EMULATOR), "start", "--host=127.0.0.1", f"--port={ports['firestore_up']}"]
    pubsub_argv = [str(PUBSUB_EMULATOR), "--host=127.0.0.1", f"--port={ports['pubsub_up']}", f"--data-dir={state}"]
    process.start_daemon(state, "firestore", firestore_argv, env=env)
    process.start_daemon(state, "pubsub", pubsub_argv, env=env)
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", ports["http_up"]), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    proxy = UsageProxy(
        state / "usage.jsonl",
        [
            Route("firestore", ports["firestore"], ports["firestore_up"]),
            Route("pubsub", ports["pubsub"], ports["pubsub_up"]),
        ],
        [Route("dispatcher", ports["http"], ports["http_up"])],
    )
    saved = dict(os.environ)
    try:
        for name in ("firestore_up", "pubsub_up"):
            process.wait_until(lambda p=ports[name]: process.port_open(p), timeout_s=60, what=name)
        proxy.start()
        os.environ["FIRESTORE_EMULATOR_HOST"] = f"127.0.0.1:{ports['firestore']}"
        os.environ["PUBSUB_EMULATOR_HOST"] = f"127.0.0.1:{ports['pubsub']}"
        yield Counted(state / "usage.jsonl", ports)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        proxy.stop()
        upstream.shutdown()
        process.stop_daemon(state, "pubsub")
        process.stop_daemon(state, "firestore")


@pytest.fixture
def db(counted: Counted) -> firestore.Client:
    client = firestore.Client(project=f"usage-{uuid.uuid4().hex[:8]}")  # a project of its own: an empty database
    counted.since_mark()
    return client


def test_a_batch_of_three_documents_is_three_writes(db: firestore.Client, counted: Counted) -> None:
    batch = db.batch()
    for name in ("a", "b", "c"):
        batch.set(db.collection("things").document(name), {"n": 1})
    batch.commit()

    events = counted.since_mark()
    assert [(e["method"], e["writes"], e["write_targets"]) for e in events] == [("Commit", 3, {"set things": 3})]
    assert events[0]["documents"] == ["things/a", "things/b", "things/c"]  # which documents: the hot-document check


def test_a_transform_on_a_written_document_is_part_of_that_write(db: firestore.Client, counted: Counted) -> None:
    db.collection("things").document("a").set({"n": 1, "at": firestore.SERVER_TIMESTAMP})
    db.collection("things").document("a").update({"n": firestore.Increment(1)})
    assert counted.totals() == {"reads": 0, "writes": 2, "messages": 0}
    assert db.collection("things").document("a").get().to_dict()["n"] == 2  # forwarded: the emulator did it


def test_queries_cost_what_they_return_and_one_when_empty(db: firestore.Client, counted: Counted) -> None:
    for name, colour in (("a", "red"), ("b", "red"), ("c", "blue")):
        db.collection("things").document(name).set({"colour": colour})
    counted.since_mark()

    reds = list(db.collection("things").where(filter=FieldFilter("colour", "==", "red")).stream())
    assert len(reds) == 2
    assert counted.totals()["reads"] == 2

    greens = list(db.collection("things").where(filter=FieldFilter("colour", "==", "green")).stream())
    assert greens == []
    [event] = counted.since_mark()
    assert (event["method"], event["reads"], event["read_targets"]) == ("RunQuery", 1, {"query things[colour ==]": 1})

    count = db.collection("things").count().get()[0][0].value
    assert count == 3
    assert counted.totals()["reads"] == 1  # an aggregation: one read per 1000 documents counted, at least one


def test_gets_cost_one_read_each_found_or_missing(db: firestore.Client, counted: Counted) -> None:
    db.collection("things").document("here").set({"n": 1})
    counted.since_mark()

    assert db.collection("things").document("here").get().exists
    assert not db.collection("things").document("absent").get().exists
    events = counted.since_mark()
    assert [e["read_targets"] for e in events] == [{"get things": 1}, {"get things (missing)": 1}]

    found = list(db.get_all([db.collection("things").document(n) for n in ("here", "absent", "gone")]))
    assert len(found) == 3
    assert counted.totals()["reads"] == 3


def test_a_transaction_reads_and_writes_like_other_calls(db: firestore.Client, counted: Counted) -> None:
    ref = db.collection("counters").document("c")
    ref.set({"n": 1})
    counted.since_mark()

    @firestore.transactional
    def bump(transaction: firestore.Transaction) -> None:
        current = ref.get(transaction=transaction).to_dict()["n"]
        transaction.update(ref, {"n": current + 1})

    bump(db.transaction())
    assert counted.totals() == {"reads": 1, "writes": 1, "messages": 0}
    assert ref.get().to_dict()["n"] == 2


def test_a_failed_commit_writes_nothing_and_its_error_reaches_the_caller(
    db: firestore.Client, counted: Counted
) -> None:
    db.collection("things").document("a").create({"n": 1})
    counted.since_mark()

    with pytest.raises(gexc.Conflict):  # AlreadyExists, relayed with its status
        db.collection("things").document("a").create({"n": 2})
    [event] = counted.since_mark()
    assert (event["status"], event["writes"], event["detail"]) == ("ALREADY_EXISTS", 0, {"unbilled_writes": 1})
    assert "documents" not in event


def test_the_caller_is_named_by_its_process(db: firestore.Client, counted: Counted) -> None:
    db.collection("things").document("a").get()
    [event] = counted.since_mark()
    assert event["pid"] == os.getpid()


def test_each_published_message_counts_with_its_kind(counted: Counted) -> None:
    publisher = pubsub_v1.PublisherClient()
    topic = publisher.topic_path("usage-test", f"t-{uuid.uuid4().hex[:6]}")
    publisher.create_topic(name=topic)
    counted.since_mark()

    futures = [publisher.publish(topic, json.dumps({"kind": "queued"}).encode(), kind="queued") for _ in range(2)]
    futures.append(publisher.publish(topic, json.dumps({"kind": "tick"}).encode()))
    for future in futures:
        future.result(timeout=30)

    events = [e for e in counted.since_mark() if e["method"] == "Publish"]
    short = topic.rsplit("/", 1)[-1]
    assert sum(e["messages"] for e in events) == 3
    merged: dict[str, int] = {}
    for event in events:
        for target, count in event["message_targets"].items():
            merged[target] = merged.get(target, 0) + count
    assert merged == {f"{short} queued": 2, f"{short} tick": 1}


def test_a_function_call_is_forwarded_and_counted_with_what_it_delivered(counted: Counted) -> None:
    import base64
    import urllib.request

    push = {"message": {"data": base64.b64encode(b'{"kind": "slot-freed"}').decode(), "attributes": {}}}
    request = urllib.request.Request(
        f"http://127.0.0.1:{counted.ports['http']}/projects/p/topics/olc-jobs",
        data=json.dumps(push).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    began = time.time()
    with urllib.request.urlopen(request, timeout=10) as reply:
        assert reply.status == 201
        answer = json.loads(reply.read())
    assert answer["path"] == "/projects/p/topics/olc-jobs"
    assert json.loads(answer["body"]) == push

    [event] = counted.since_mark()
    assert (event["service"], event["function"], event["status"], event["kind"]) == (
        "http",
        "dispatcher",
        201,
        "push slot-freed",
    )
    assert event["pid"] == os.getpid()
    assert began <= event["began"] <= event["t"]


@pytest.mark.parametrize(
    ("argv", "label"),
    [
        (["/v/bin/python", "-m", "functions_framework", "--target", "dispatcher", "--port", "1"], "dispatcher"),
        (["/v/bin/python", "-m", "devstack.ticker", "--every", "5"], "devstack.ticker"),
        (["python3", "-u", "-"], "python3 (stdin)"),
        (["/usr/bin/python3", "/repo/infra/slurm/olc_notify.py", "--detach"], "olc_notify.py"),
        (["java", "-jar", "/sdk/pubsub-emulator/lib/cloud-pubsub-emulator.jar"], "pubsub-emulator"),
        (["/x/fake-gcs-server-linux-amd64", "-port", "1"], "fake-gcs-server-linux-amd64"),
    ],
)
def test_processes_are_named_by_what_they_run(argv: list[str], label: str) -> None:
    assert process_label(argv) == label


def test_documents_only_logs_just_the_documents_commits_wrote(counted: Counted, tmp_path: Path) -> None:
    """bench/scale.py's cheap mode: every call forwarded, only successful commits logged, with their documents."""
    port = free_port()
    log = tmp_path / "documents.jsonl"
    proxy = UsageProxy(log, [Route("firestore", port, counted.ports["firestore_up"])], [], documents_only=True)
    proxy.start()
    saved = os.environ["FIRESTORE_EMULATOR_HOST"]
    try:
        os.environ["FIRESTORE_EMULATOR_HOST"] = f"127.0.0.1:{port}"
        db = firestore.Client(project=f"docs-{uuid.uuid4().hex[:8]}")
        batch = db.batch()
        for name in ("a", "b"):
            batch.set(db.collection("things").document(name), {"n": 1})
        batch.commit()
        assert db.collection("things").document("a").get().to_dict() == {"n": 1}  # forwarded, not logged
        assert [d.id for d in db.collection("things").stream()] == ["a", "b"]
    finally:
        os.environ["FIRESTORE_EMULATOR_HOST"] = saved
        proxy.stop()
    [event] = read_log(log)
    assert (event["method"], event["documents"], event["caller"]) == ("Commit", ["things/a", "things/b"], "")
