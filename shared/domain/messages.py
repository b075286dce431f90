"""The messages the dispatcher receives, and the one way they are written and read.

On the wire (unchanged, so messages already in flight still decode) a message's data is a JSON object with "kind"
and the kind's fields, and its Pub/Sub attribute "kind" repeats the kind:

    queued      {"kind": "queued", "job_id": ...}        ingest: a job waits for admission
    slot-freed  {"kind": "slot-freed", "job_id": ...}    completion: a run ended, so its slots are free
    cancel      {"kind": "cancel", "job_id": ...}        the API: scancel the job's run
    tick        {"kind": "tick", "at": <epoch s>}        Cloud Scheduler (without "at") or devstack/ticker.py
    fetch       {"kind": "fetch", "job_id", "owner",     the API or the webhook: fetch a git submission's design
                 "url", "ref", "path"}                   (git-fetch topic, read by the git fetcher only)

A dead letter (`DeadLetter`, shared/domain/events.py) is a message Pub/Sub gave up delivering: the original data
(a jobs message, or locally an upload notification) with the original attributes and Pub/Sub's
CloudPubSubDeadLetter* ones, which is how it is told apart.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from shared.domain.events import DEAD_LETTER_SOURCE, DeadLetter, EventShapeError, PubSubMessage
from shared.domain.upload import JOB_ID_PATTERN

KIND = "kind"  # the data's field and the Pub/Sub attribute naming the kind


class MessageError(EventShapeError):
    """A message that cannot be decoded; delivering it again cannot help."""


@dataclass(frozen=True)
class _JobMessage:
    job_id: str


@dataclass(frozen=True)
class Queued(_JobMessage):
    """Ingest accepted a job: it waits for admission."""

    kind: ClassVar[str] = "queued"


@dataclass(frozen=True)
class SlotFreed(_JobMessage):
    """A run ended, so its slots are free for the next job."""

    kind: ClassVar[str] = "slot-freed"


@dataclass(frozen=True)
class Cancel(_JobMessage):
    """Stop the job's run in Slurm (the API holds no cluster credentials, the dispatcher does)."""

    kind: ClassVar[str] = "cancel"


@dataclass(frozen=True)
class FetchDesign(_JobMessage):
    """A git submission waits (FETCHING) for its design to be fetched, packed and uploaded. It carries all the
    fetcher needs, so the fetcher (which talks to hosts users choose) needs no access to the jobs."""

    owner: str
    url: str
    ref: str  # what to fetch: the ref asked for, or the pushed commit
    path: str = ""
    kind: ClassVar[str] = "fetch"


@dataclass(frozen=True)
class Tick:
    """The scheduler's beat: repair lost ends, admit what fits."""

    at: float | None = None  # when devstack/ticker.py sent it (epoch seconds); Cloud Scheduler's ticks carry none
    kind: ClassVar[str] = "tick"


# What this system publishes; a dead letter is only ever received.
Published = Queued | SlotFreed | Cancel | Tick | FetchDesign
Message = Published | DeadLetter

_JOB_MESSAGES: dict[str, type[Queued] | type[SlotFreed] | type[Cancel]] = {
    kind.kind: kind for kind in (Queued, SlotFreed, Cancel)
}
KINDS = (*_JOB_MESSAGES, Tick.kind, FetchDesign.kind)
_MAX_FETCH_FIELD_CHARS = 1000  # the fetcher checks the values again (shared/domain/git_source.py)


def encode(message: Message) -> PubSubMessage:
    """The Pub/Sub message carrying `message` (data and attributes; Pub/Sub assigns the id of a new one)."""
    if isinstance(message, DeadLetter):
        data = b"" if message.data is None else _json(message.data)
        return PubSubMessage(data, dict(message.attributes), message.message_id)
    fields = {name: value for name, value in asdict(message).items() if value is not None}
    return PubSubMessage(_json({KIND: message.kind, **fields}), {KIND: message.kind})


def decode(message: PubSubMessage) -> Message:
    """The message a Pub/Sub message carries; MessageError naming what is wrong if it carries none."""
    if DEAD_LETTER_SOURCE in message.attributes:
        return DeadLetter(message.message_id, dict(message.attributes), _json_object_or_none(message.data))
    body = _json_object_or_none(message.data)
    if body is None:
        raise MessageError(f"the data is not a JSON object: {message.data[:80]!r}")
    kind = body.get(KIND)
    if kind == Tick.kind:
        at = body.get("at")
        if at is not None and (isinstance(at, bool) or not isinstance(at, int | float)):
            raise MessageError(f"a tick's 'at' must be a number, not {at!r}")
        return Tick(None if at is None else float(at))
    job_message = _JOB_MESSAGES.get(kind) if isinstance(kind, str) else None
    if job_message is None and kind != FetchDesign.kind:
        raise MessageError(f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    job_id = body.get("job_id")
    if not isinstance(job_id, str) or not JOB_ID_PATTERN.fullmatch(job_id):
        raise MessageError(f"a {kind!r} message needs a job id, not {job_id!r}")
    if job_message is None:
        return _fetch(job_id, body)
    return job_message(job_id)


def _fetch(job_id: str, body: dict[str, Any]) -> FetchDesign:
    values = {name: body.get(name, "") for name in ("owner", "url", "ref", "path")}
    for name, value in values.items():
        if not isinstance(value, str) or len(value) > _MAX_FETCH_FIELD_CHARS or (name != "path" and not value):
            raise MessageError(f"a 'fetch' message needs {name} as text, not {value!r}")
    return FetchDesign(job_id, **values)


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _json_object_or_none(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None
