"""Count what the stack's processes cost in Firestore, Pub/Sub and function calls, by sitting in front of them.

`bench/cost.py` starts a stack whose Firestore and Pub/Sub emulators and functions listen on other ports
(`StackLayout.usage_proxy`); this process takes their usual ports and forwards every call unchanged:

    gRPC (Firestore, Pub/Sub)   each method's raw bytes, both ways, with the caller's metadata and deadline
    HTTP (each function)        each request and its answer (Pub/Sub pushes, the cluster's reports, the API)

Nothing in the service code knows it is there. It decodes the Firestore and Pub/Sub messages it forwards and
appends one JSON line per call to a log, counted by Firestore's billing rules:

    reads    each document a get, batch-get or query returns is one read; a query that returns nothing is one;
             a batch-get's "missing" answer is one too (Firestore bills a lookup of an absent document); an
             aggregation (count) is one per 1000 documents counted, at least one; transactions' reads alike
    writes   each document a successful commit creates, sets, updates or deletes is one; a field transform on a
             document the same commit writes is part of that write; a commit that fails writes nothing
    messages each message a successful Publish carries

and which process asked: the caller's TCP port, looked up in /proc, names its process (a function by its
functions-framework target, else its Python module or script, else its program).

Usage: python -m devstack.usage_proxy --log FILE --grpc firestore=21601:21641 --grpc pubsub=21602:21642
                                      --http api=21613:21653 ...
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import http.client
import http.server
import json
import math
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from google.cloud.firestore_v1.types import firestore as firestore_types
from google.cloud.firestore_v1.types import query as query_types
from google.pubsub_v1.types import pubsub as pubsub_types

# The methods that stream; every other method of these services is unary. (Generated descriptors of these services
# are not in the protobuf pool, so the shapes are listed here, from google/firestore/v1 and google/pubsub/v1.)
_SERVER_STREAMING = frozenset({"BatchGetDocuments", "RunQuery", "RunAggregationQuery", "ExecutePipeline"})
_BIDI_STREAMING = frozenset({"Listen", "Write", "StreamingPull"})
_QUERIES = frozenset({"RunQuery", "RunAggregationQuery", "ListDocuments"})
_WRITE_METHODS = frozenset({"Commit", "Write"})
# gRPC sets these itself on the forwarded call; passing them on is refused or duplicated.
_OWN_METADATA = ("user-agent", ":")
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "transfer-encoding"}
)
_UNLIMITED = [("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1)]
_HTTP_TIMEOUT_S = 600  # an API download or a long function call must not be cut by the proxy
_AGGREGATION_ENTRIES_PER_READ = 1000
_OPERATORS = {
    "EQUAL": "==",
    "NOT_EQUAL": "!=",
    "LESS_THAN": "<",
    "LESS_THAN_OR_EQUAL": "<=",
    "GREATER_THAN": ">",
    "GREATER_THAN_OR_EQUAL": ">=",
    "IN": "in",
    "NOT_IN": "not-in",
    "ARRAY_CONTAINS": "array-contains",
    "ARRAY_CONTAINS_ANY": "array-contains-any",
}


# ------------------------------------------------------------------------------------------------ the log
class UsageLog:
    """One JSON object a line, appended and flushed per call so a reader sees each call as soon as it ended."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def record(self, event: dict[str, Any]) -> None:
        line = json.dumps(event, sort_keys=True)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            self._file.close()


def read_log(path: Path) -> list[dict[str, Any]]:
    """Every call recorded so far (a line being written is skipped)."""
    if not path.exists():
        return []
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        with contextlib.suppress(ValueError):
            events.append(json.loads(line))
    return events


# ---------------------------------------------------------------------------------------------- who asks
def _tcp_sockets() -> Iterator[tuple[int, int, int]]:
    """(local port, remote port, socket inode) of every TCP socket in this network namespace."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            next(rows, None)
            for row in rows:
                columns = row.split()
                if len(columns) > 9:
                    yield int(columns[1].rsplit(":", 1)[1], 16), int(columns[2].rsplit(":", 1)[1], 16), int(columns[9])


def _owner_of_socket(inode: int) -> int | None:
    target = f"socket:[{inode}]"
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{entry.name}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) == target:
                        return int(entry.name)
    return None


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def process_label(argv: list[str]) -> str:
    """What a process is: a function (its functions-framework --target), a Python module (-m) or script, a Java
    emulator, or its program's name."""
    if "--target" in argv[:-1]:
        return argv[argv.index("--target") + 1]
    program = Path(argv[0]).name if argv else "unknown"
    if program.startswith("python"):
        return _python_label(program, argv[1:])
    if program == "java":
        text = " ".join(argv)
        return next((f"{name}-emulator" for name in ("pubsub", "firestore") if name in text), program)
    return program


def _python_label(program: str, arguments: list[str]) -> str:
    rest = list(arguments)
    while rest and rest[0].startswith("-") and rest[0] not in ("-m", "-"):
        rest = rest[1:]  # interpreter options such as -u
    if len(rest) >= 2 and rest[0] == "-m":
        return rest[1]
    if not rest or rest[0] == "-":
        return f"{program} (stdin)"  # e.g. the job kit, which the batch script pipes into python3
    return Path(rest[0]).name


class CallerDirectory:
    """Names the process behind a TCP peer of ours, once per connection (a socket's inode is unique while open)."""

    def __init__(self) -> None:
        self._by_inode: dict[int, tuple[int | None, str]] = {}
        self._lock = threading.Lock()

    def caller(self, peer_port: int, our_port: int) -> tuple[int | None, str]:
        inode = next((i for local, remote, i in _tcp_sockets() if local == peer_port and remote == our_port), None)
        if inode is None:
            return None, "unknown"
        with self._lock:
            known = self._by_inode.get(inode)
        if known is not None:
            return known
        pid = _owner_of_socket(inode)
        found = (pid, process_label(_cmdline(pid)) if pid is not None else "unknown")
        with self._lock:
            if len(self._by_inode) > 10_000:  # connections come and go for days in a long-lived stack
                self._by_inode.clear()
            self._by_inode[inode] = found
        return found


def peer_port(peer: str) -> int:
    """The port of a gRPC peer such as "ipv4:127.0.0.1:5123" or "ipv6:[::1]:5123"."""
    return int(peer.rsplit(":", 1)[1])


# ------------------------------------------------------------------------------------------ what it costs
def collection_of(document: str) -> str:
    """ "projects/p/databases/d/documents/jobs/j1/runs/r2" -> "jobs/runs": the collection ids, no document ids."""
    path = document.split("/documents/", 1)[-1].split("/")
    return "/".join(path[0::2])


def _write_document(write: Any) -> str:
    operation = write.WhichOneof("operation")
    if operation == "update":
        return write.update.name
    if operation == "delete":
        return write.delete
    return write.transform.document


def _write_kind(write: Any) -> str:
    operation = write.WhichOneof("operation")
    if operation == "update":
        precondition = write.current_document
        if precondition.WhichOneof("condition_type") == "exists" and not precondition.exists:
            return "create"
        return "update" if write.HasField("update_mask") else "set"
    return str(operation)


def billed_writes(writes: Iterable[Any]) -> Counter[str]:
    """The billed writes of one commit, as "<kind> <collection>": one per written document, where a field
    transform on a document another write of the commit changes is part of that write."""
    writes = list(writes)
    changed = {_write_document(w) for w in writes if w.WhichOneof("operation") != "transform"}
    billed: Counter[str] = Counter()
    for write in writes:
        if write.WhichOneof("operation") == "transform" and _write_document(write) in changed:
            continue
        billed[f"{_write_kind(write)} {collection_of(_write_document(write))}"] += 1
    return billed


def written_documents(writes: Iterable[Any]) -> set[str]:
    """The documents one commit writes, as paths below the database ("jobs/j1/runs/r2"): which document takes how
    many writes a second (bench/scale.py's hot-document check)."""
    return {_write_document(w).split("/documents/", 1)[-1] for w in writes}


def _filter_text(query_filter: Any) -> list[str]:
    kind = query_filter.WhichOneof("filter_type")
    if kind == "composite_filter":
        return [text for inner in query_filter.composite_filter.filters for text in _filter_text(inner)]
    if kind == "field_filter":
        op = _OPERATORS.get(query_types.StructuredQuery.FieldFilter.Operator(query_filter.field_filter.op).name)
        return [f"{query_filter.field_filter.field.field_path} {op or 'op'}"]
    if kind == "unary_filter":
        return [f"{query_filter.unary_filter.field.field_path} is {query_filter.unary_filter.op}"]
    return []


def query_label(structured_query: Any) -> str:
    """A query's shape, e.g. "jobs[state in; order created_at; limit]": enough to find it in the code."""
    sources = [s.collection_id for s in structured_query.from_]  # proto-plus names the field "from_"
    parts = _filter_text(structured_query.where) if structured_query.HasField("where") else []
    parts += [f"order {o.field.field_path}" for o in structured_query.order_by]
    if structured_query.HasField("limit"):
        parts.append("limit")
    return f"{'/'.join(sources) or '?'}[{'; '.join(parts)}]"


@dataclass
class CallUsage:
    """What one forwarded call cost; `reads`/`writes` map a label (collection or query) to a count."""

    reads: Counter[str] = field(default_factory=Counter)
    writes: Counter[str] = field(default_factory=Counter)
    messages: Counter[str] = field(default_factory=Counter)
    detail: dict[str, Any] = field(default_factory=dict)
    documents: set[str] = field(default_factory=set)  # the documents a successful commit wrote


class FirestoreTally:
    """Counts one Firestore call from the raw request(s) and response(s) it carried."""

    def __init__(self, method: str, documents_only: bool = False) -> None:
        self.method = method
        self.documents_only = documents_only  # read only what commits write (bench/scale.py: cheap at volume)
        self.usage = CallUsage()
        self.pending_writes: Counter[str] = Counter()  # a commit's writes, billed once it succeeded
        self.pending_documents: set[str] = set()
        self.query = ""  # what a query or a single get asked for
        self.returned = 0  # documents a query returned
        self._lock = threading.Lock()  # a bidi stream's requests and responses are read on two threads

    def request(self, raw: bytes) -> None:
        if not self.documents_only or self.method in _WRITE_METHODS:
            self._read(_FIRESTORE_REQUESTS.get(self.method), raw)

    def response(self, raw: bytes) -> None:
        if not self.documents_only:
            self._read(_FIRESTORE_RESPONSES.get(self.method), raw)

    def _read(self, reader: Callable[[FirestoreTally, bytes], None] | None, raw: bytes) -> None:
        if reader is None:
            return
        with self._lock:
            try:
                reader(self, raw)
            except Exception as exc:  # a counting bug must not break the call: it is flagged in the log instead
                self.usage.detail["count_error"] = f"{type(exc).__name__}: {exc}"

    def finish(self, ok: bool) -> CallUsage:
        with self._lock:
            if self.method in _QUERIES and (ok or self.returned):
                # A query is billed for what it returned, and one read when that is nothing.
                self.usage.reads[f"query {self.query or self.method}"] += max(self.returned, 1)
                self.usage.detail["returned"] = self.returned
            if ok:
                self.usage.writes += self.pending_writes
                self.usage.documents |= self.pending_documents
            elif self.pending_writes:
                self.usage.detail["unbilled_writes"] = sum(self.pending_writes.values())
            return self.usage


def _commit_request(tally: FirestoreTally, raw: bytes) -> None:
    writes = firestore_types.CommitRequest.pb().FromString(raw).writes
    tally.pending_writes += billed_writes(writes)
    tally.pending_documents |= written_documents(writes)


def _write_stream_request(tally: FirestoreTally, raw: bytes) -> None:
    writes = firestore_types.WriteRequest.pb().FromString(raw).writes
    tally.pending_writes += billed_writes(writes)
    tally.pending_documents |= written_documents(writes)


def _query_request(tally: FirestoreTally, raw: bytes) -> None:
    tally.query = query_label(firestore_types.RunQueryRequest.pb().FromString(raw).structured_query)


def _aggregation_request(tally: FirestoreTally, raw: bytes) -> None:
    aggregation = firestore_types.RunAggregationQueryRequest.pb().FromString(raw).structured_aggregation_query
    tally.query = "count " + query_label(aggregation.structured_query)


def _get_request(tally: FirestoreTally, raw: bytes) -> None:
    tally.query = collection_of(firestore_types.GetDocumentRequest.pb().FromString(raw).name)


def _batch_get_response(tally: FirestoreTally, raw: bytes) -> None:
    answer = firestore_types.BatchGetDocumentsResponse.pb().FromString(raw)
    result = answer.WhichOneof("result")  # neither: a response carrying only a new transaction's id
    if result == "found":
        tally.usage.reads[f"get {collection_of(answer.found.name)}"] += 1
    elif result == "missing":
        tally.usage.reads[f"get {collection_of(answer.missing)} (missing)"] += 1


def _query_response(tally: FirestoreTally, raw: bytes) -> None:
    if firestore_types.RunQueryResponse.pb().FromString(raw).HasField("document"):
        tally.returned += 1


def _aggregation_response(tally: FirestoreTally, raw: bytes) -> None:
    answer = firestore_types.RunAggregationQueryResponse.pb().FromString(raw)
    counts = [value.integer_value for value in answer.result.aggregate_fields.values()]
    if counts:
        tally.returned += math.ceil(max(counts) / _AGGREGATION_ENTRIES_PER_READ)


def _list_response(tally: FirestoreTally, raw: bytes) -> None:
    tally.returned += len(firestore_types.ListDocumentsResponse.pb().FromString(raw).documents)


def _get_response(tally: FirestoreTally, raw: bytes) -> None:
    del raw
    tally.usage.reads[f"get {tally.query}"] += 1


def _listen_response(tally: FirestoreTally, raw: bytes) -> None:
    if firestore_types.ListenResponse.pb().FromString(raw).WhichOneof("response_type") == "document_change":
        tally.usage.reads["listen"] += 1


def _batch_write_response(tally: FirestoreTally, raw: bytes) -> None:
    answer = firestore_types.BatchWriteResponse.pb().FromString(raw)
    tally.usage.writes["batch-write"] += sum(1 for status in answer.status if status.code == 0)


def _single_write_response(tally: FirestoreTally, raw: bytes) -> None:
    del raw
    tally.usage.writes[tally.method] += 1


_FIRESTORE_REQUESTS: dict[str, Callable[[FirestoreTally, bytes], None]] = {
    "Commit": _commit_request,
    "Write": _write_stream_request,
    "RunQuery": _query_request,
    "RunAggregationQuery": _aggregation_request,
    "GetDocument": _get_request,
}
_FIRESTORE_RESPONSES: dict[str, Callable[[FirestoreTally, bytes], None]] = {
    "BatchGetDocuments": _batch_get_response,
    "RunQuery": _query_response,
    "RunAggregationQuery": _aggregation_response,
    "ListDocuments": _list_response,
    "GetDocument": _get_response,
    "Listen": _listen_response,
    "BatchWrite": _batch_write_response,
    "CreateDocument": _single_write_response,
    "UpdateDocument": _single_write_response,
    "DeleteDocument": _single_write_response,
}


class PubSubTally:
    """Counts one Pub/Sub call: the messages a successful Publish carried, by topic and message kind."""

    _publish = pubsub_types.PublishRequest.pb()

    def __init__(self, method: str) -> None:
        self.method = method
        self._pending: Counter[str] = Counter()

    def request(self, raw: bytes) -> None:
        if self.method != "Publish":
            return
        publish = self._publish.FromString(raw)
        topic = publish.topic.rsplit("/", 1)[-1]
        for message in publish.messages:
            self._pending[f"{topic} {message_kind(message.attributes, message.data)}"] += 1

    def response(self, raw: bytes) -> None:
        del raw  # a publish is counted from its request

    def finish(self, ok: bool) -> CallUsage:
        return CallUsage(messages=self._pending if ok else Counter())


def message_kind(attributes: Any, data: bytes) -> str:
    """This system's "kind" (attribute or data field), or a storage notification's event type."""
    if attributes.get("kind"):
        return str(attributes["kind"])
    if attributes.get("eventType"):
        return str(attributes["eventType"])
    with contextlib.suppress(ValueError, AttributeError):
        return str(json.loads(data).get("kind") or "?")
    return "?"


Tally = FirestoreTally | PubSubTally


# ----------------------------------------------------------------------------------------- gRPC forwarding
class GrpcForwarder(grpc.GenericRpcHandler):
    """Forwards every method of one upstream server as raw bytes, recording one usage event per call."""

    def __init__(
        self,
        service: str,
        upstream: grpc.Channel,
        our_port: int,
        log: UsageLog,
        callers: CallerDirectory,
        documents_only: bool = False,
    ) -> None:
        self._service = service
        self._upstream = upstream
        self._our_port = our_port
        self._log = log
        self._callers = callers
        # Only which documents commits write, logged for commits alone, callers not looked up: what bench/scale.py
        # needs, cheap enough to sit in front of a thousand jobs' traffic.
        self._documents_only = documents_only

    def _tally(self, method: str) -> Tally:
        if self._service == "firestore":
            return FirestoreTally(method, self._documents_only)
        return PubSubTally(method)

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler:
        full_method = handler_call_details.method
        method = full_method.rsplit("/", 1)[-1]
        if method in _BIDI_STREAMING:
            return grpc.stream_stream_rpc_method_handler(self._bidi(full_method, method))
        if method in _SERVER_STREAMING:
            return grpc.unary_stream_rpc_method_handler(self._server_streaming(full_method, method))
        return grpc.unary_unary_rpc_method_handler(self._unary(full_method, method))

    def _start(self, method: str, context: grpc.ServicerContext) -> _Call:
        # Who asks is looked up while the call is in flight, so the caller's connection is certainly open.
        if self._documents_only:
            return _Call(method, time.time(), self._tally(method), None, "")
        pid, caller = self._callers.caller(peer_port(context.peer()), self._our_port)
        return _Call(method, time.time(), self._tally(method), pid, caller)

    def _unary(self, full_method: str, method: str) -> Callable[[bytes, grpc.ServicerContext], bytes]:
        upstream = self._upstream.unary_unary(full_method)  # no serializers: bytes in, bytes out

        def forward(request: bytes, context: grpc.ServicerContext) -> bytes:
            call = self._start(method, context)
            call.tally.request(request)
            try:
                response, outcome = upstream.with_call(
                    request, metadata=_metadata(context), timeout=context.time_remaining()
                )
            except grpc.RpcError as error:
                self._record(call, _status_of(error), ok=False)
                _relay_error(context, error)
                raise  # not reached: abort raised
            call.tally.response(response)
            context.set_trailing_metadata(_forwardable(outcome.trailing_metadata()))
            self._record(call, "OK", ok=True)
            return response

        return forward

    def _server_streaming(
        self, full_method: str, method: str
    ) -> Callable[[bytes, grpc.ServicerContext], Iterator[bytes]]:
        upstream = self._upstream.unary_stream(full_method)

        def forward(request: bytes, context: grpc.ServicerContext) -> Iterator[bytes]:
            call = self._start(method, context)
            call.tally.request(request)
            responses = upstream(request, metadata=_metadata(context), timeout=context.time_remaining())
            yield from self._relay(context, call, responses)

        return forward

    def _bidi(
        self, full_method: str, method: str
    ) -> Callable[[Iterator[bytes], grpc.ServicerContext], Iterator[bytes]]:
        upstream = self._upstream.stream_stream(full_method)

        def forward(requests: Iterator[bytes], context: grpc.ServicerContext) -> Iterator[bytes]:
            call = self._start(method, context)

            def counted() -> Iterator[bytes]:
                for request in requests:
                    call.tally.request(request)
                    yield request

            responses = upstream(counted(), metadata=_metadata(context), timeout=context.time_remaining())
            yield from self._relay(context, call, responses)

        return forward

    def _relay(self, context: grpc.ServicerContext, call: _Call, responses: Any) -> Iterator[bytes]:
        context.add_callback(responses.cancel)  # our caller went away: stop the upstream call too
        try:
            for response in responses:
                call.tally.response(response)
                yield response
        except grpc.RpcError as error:
            self._record(call, _status_of(error), ok=False)
            _relay_error(context, error)
        else:
            context.set_trailing_metadata(_forwardable(responses.trailing_metadata()))
            self._record(call, "OK", ok=True)
        finally:
            if not call.recorded:  # the caller stopped reading early: it still got (and pays for) what it read
                self._record(call, "CANCELLED", ok=True)

    def _record(self, call: _Call, status: str, ok: bool) -> None:
        call.recorded = True
        usage = call.tally.finish(ok)
        if self._documents_only and not usage.documents:
            return
        self._log.record(
            {
                "service": self._service,
                "method": call.method,
                "status": status,
                "began": round(call.began, 6),
                "t": round(time.time(), 6),
                "caller": call.caller,
                "pid": call.pid,
                "reads": sum(usage.reads.values()),
                "writes": sum(usage.writes.values()),
                "messages": sum(usage.messages.values()),
                "read_targets": dict(usage.reads),
                "write_targets": dict(usage.writes),
                "message_targets": dict(usage.messages),
                **({"documents": sorted(usage.documents)} if usage.documents else {}),
                **({"detail": usage.detail} if usage.detail else {}),
            }
        )


@dataclass
class _Call:
    """One forwarded call in flight."""

    method: str
    began: float
    tally: Tally
    pid: int | None
    caller: str
    recorded: bool = False


def _status_of(error: grpc.RpcError) -> str:
    return str(error.code().name)  # type: ignore[attr-defined]


def _metadata(context: grpc.ServicerContext) -> list[tuple[str, str | bytes]]:
    return _forwardable(context.invocation_metadata())


def _forwardable(metadata: Any) -> list[tuple[str, str | bytes]]:
    return [(m.key, m.value) for m in metadata or () if not m.key.startswith(_OWN_METADATA)]


def _relay_error(context: grpc.ServicerContext, error: grpc.RpcError) -> None:
    """Answer our caller with the upstream's status, details and trailers (e.g. ABORTED of a transaction)."""
    trailers = [(k, v) for k, v in _forwardable(error.trailing_metadata()) if not k.startswith("grpc-")]  # type: ignore[attr-defined]
    context.set_trailing_metadata(trailers)
    context.abort(error.code(), error.details() or "")  # type: ignore[attr-defined]


# ----------------------------------------------------------------------------------------- HTTP forwarding
def request_kind(body: bytes) -> str | None:
    """What a function call is about: the kind of message a Pub/Sub push delivers (or the storage event it
    announces), or the "kind" (and "stage") of a JSON body such as the cluster's reports; None otherwise."""
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if not isinstance(request, dict):
        return None
    message = request.get("message")
    if isinstance(message, dict):
        try:
            data = base64.b64decode(message.get("data") or "")
        except (binascii.Error, TypeError):
            data = b""
        return f"push {message_kind(message.get('attributes') or {}, data)}"
    if isinstance(request.get("kind"), str):
        stage = request.get("stage")
        return request["kind"] + (f" {stage}" if isinstance(stage, str) and stage else "")
    return None


def _http_handler(
    function: str, upstream_port: int, our_port: int, log: UsageLog, callers: CallerDirectory
) -> type[http.server.BaseHTTPRequestHandler]:
    class Forward(http.server.BaseHTTPRequestHandler):
        # HTTP/1.0 answers end at close, so an answer of any length (a streamed ZIP, a followed log) passes through.
        protocol_version = "HTTP/1.0"

        def _forward(self) -> None:
            began = time.time()
            body = self._body()
            pid, caller = callers.caller(self.client_address[1], our_port)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            status = 502
            try:
                upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=_HTTP_TIMEOUT_S)
                upstream.request(self.command, self.path, body=body or None, headers=headers)
                answer = upstream.getresponse()
                status = answer.status
                self.send_response(answer.status, answer.reason)
                for key, value in answer.getheaders():
                    if key.lower() not in _HOP_BY_HOP:
                        self.send_header(key, value)
                self.end_headers()
                while chunk := answer.read(1 << 16):
                    self.wfile.write(chunk)
                upstream.close()
            except OSError as exc:
                if status == 502:
                    self.send_error(502, f"usage proxy: {function} unreachable ({exc})")
            finally:
                log.record(
                    {
                        "service": "http",
                        "function": function,
                        "method": self.command,
                        "path": self.path.split("?", 1)[0],
                        "status": status,
                        "began": round(began, 6),
                        "t": round(time.time(), 6),
                        "caller": caller,
                        "pid": pid,
                        "kind": request_kind(body),
                    }
                )

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                parts = []
                while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                    parts.append(self.rfile.read(size))
                    self.rfile.readline()
                self.rfile.readline()
                return b"".join(parts)
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _forward

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the usage log is the record; stderr lines per request would only fill the stack's log

    return Forward


# ----------------------------------------------------------------------------------------------- the proxy
@dataclass(frozen=True)
class Route:
    """Clients call `listen_port`; the real server of `name` listens on `upstream_port`."""

    name: str
    listen_port: int
    upstream_port: int

    @classmethod
    def parse(cls, text: str) -> Route:
        match = re.fullmatch(r"([\w.-]+)=(\d+):(\d+)", text)
        if not match:
            raise argparse.ArgumentTypeError(f"expected NAME=LISTEN_PORT:UPSTREAM_PORT, not {text!r}")
        return cls(match[1], int(match[2]), int(match[3]))


class UsageProxy:
    """gRPC routes (named "firestore" or "pubsub") and HTTP routes (named by function), all counted into one log."""

    def __init__(
        self, log_path: Path, grpc_routes: Iterable[Route], http_routes: Iterable[Route], documents_only: bool = False
    ) -> None:
        self.log = UsageLog(log_path)
        self._documents_only = documents_only
        self._callers = CallerDirectory()
        self._grpc_routes = list(grpc_routes)
        self._http_routes = list(http_routes)
        self._grpc_servers: list[grpc.Server] = []
        self._channels: list[grpc.Channel] = []
        self._http_servers: list[http.server.ThreadingHTTPServer] = []

    def start(self) -> None:
        for route in self._grpc_routes:
            if route.name not in ("firestore", "pubsub"):
                raise ValueError(f"no counting for gRPC service {route.name!r}: firestore or pubsub")
            channel = grpc.insecure_channel(f"127.0.0.1:{route.upstream_port}", options=_UNLIMITED)
            self._channels.append(channel)
            # Threads bound how many calls are in flight at once; a bidi stream holds one for its lifetime.
            server = grpc.server(ThreadPoolExecutor(max_workers=64), options=_UNLIMITED)
            server.add_generic_rpc_handlers(
                (GrpcForwarder(route.name, channel, route.listen_port, self.log, self._callers, self._documents_only),)
            )
            server.add_insecure_port(f"127.0.0.1:{route.listen_port}")
            server.start()
            self._grpc_servers.append(server)
        for route in self._http_routes:
            handler = _http_handler(route.name, route.upstream_port, route.listen_port, self.log, self._callers)
            server = http.server.ThreadingHTTPServer(("127.0.0.1", route.listen_port), handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=f"http-{route.name}", daemon=True).start()
            self._http_servers.append(server)

    def stop(self) -> None:
        for server in self._http_servers:
            server.shutdown()
            server.server_close()
        for grpc_server in self._grpc_servers:
            grpc_server.stop(grace=1).wait()
        for channel in self._channels:
            channel.close()
        self.log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--log", type=Path, required=True, help="the JSON-lines file to append each call to")
    parser.add_argument("--grpc", type=Route.parse, action="append", default=[], help="firestore|pubsub=LISTEN:UP")
    parser.add_argument("--http", type=Route.parse, action="append", default=[], help="FUNCTION=LISTEN:UP")
    parser.add_argument(
        "--documents-only", action="store_true", help="log only the documents each Firestore commit writes"
    )
    args = parser.parse_args()
    proxy = UsageProxy(args.log, args.grpc, args.http, args.documents_only)
    proxy.start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print(f"usage proxy up, logging to {args.log}", flush=True)
    stopped.wait()
    proxy.stop()


if __name__ == "__main__":
    main()
