"""Use case: a message reached the dispatcher (jobs topic, tick topic, dead-letter topic). Decode it, then do what
its kind asks; this is the one place that tells the kinds apart (shared/domain/messages.py defines them).

    queued, slot-freed   admit what fits (dispatch)
    tick                 repair lost job ends (reconcile), then admit what fits
    cancel               scancel the job's run, and end a cancelled sweep no run will report on
    dead letter          record it and show it on its job, or answer a lost upload with a REJECTED job

A message that cannot be decoded is logged at ERROR with its Pub/Sub message id and acknowledged: delivering it
again cannot help, and the next tick admits whatever waits.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, assert_never

from shared.domain.events import DeadLetter, EventShapeError, message_id_of, pubsub_message_from_cloudevent
from shared.domain.messages import Cancel, FetchDesign, Message, Queued, SlotFreed, Tick, decode
from shared.services.cancel import stop_in_slurm
from shared.services.completion.run_end import CompletionDeps
from shared.services.completion.sweep import finish_cancelled_sweep
from shared.services.dead_letters import DeadLetterDeps, record_dead_letter
from shared.services.dispatch import DispatchDeps, dispatch, lease_holder
from shared.services.reconcile import reconcile
from shared.structured_log import fields, get

log = get(__name__)


@dataclass(frozen=True)
class JobsTopicDeps:
    dispatch: DispatchDeps
    completion: CompletionDeps  # reconcile and cancel end jobs through the completion path
    dead_letters: DeadLetterDeps
    reconcile_after_s: float


def receive(
    event_type: str, data: Any, event_id: str, deps: JobsTopicDeps, now: Callable[[], datetime]
) -> Message | None:
    """Handle one push delivery; returns the message it carried, or None if it carried none that can be read."""
    try:
        message = decode(pubsub_message_from_cloudevent(event_type, data))
    except EventShapeError as exc:
        log.error(
            "undecodable message acknowledged",
            extra=fields(message_id=message_id_of(data) or event_id, event_type=event_type, error=str(exc)),
        )
        return None
    route(message, deps, now)
    return message


def route(message: Message, deps: JobsTopicDeps, now: Callable[[], datetime]) -> None:
    match message:
        case DeadLetter():
            letters = deps.dead_letters
            record_dead_letter(message, letters.store, letters.jobs, letters.notifier, now)
        case Cancel(job_id=job_id):
            if stop_in_slurm(deps.completion.jobs, deps.completion.cluster, job_id):
                finish_cancelled_sweep(job_id, deps.completion, now)
        case Tick():
            began = time.monotonic()
            reconciled = reconcile(deps.completion, now, deps.reconcile_after_s)
            reconcile_s = time.monotonic() - began
            _admit(message, deps.dispatch, now)
            # The tick's two parts timed apart: both grow with the number of active jobs (bench/scale.py reads them).
            log.info(
                "tick handled",
                extra=fields(
                    checked=reconciled.checked,
                    due=reconciled.due,
                    repaired=len(reconciled.repaired),
                    released=len(reconciled.released),
                    failed=len(reconciled.failed),
                    reconcile_s=round(reconcile_s, 3),
                    reconcile_read_s=round(reconciled.read_s, 3),
                    reconcile_slurm_s=round(reconciled.slurm_s, 3),
                    reconcile_repair_s=round(reconciled.repair_s, 3),
                    tick_s=round(time.monotonic() - began, 3),
                ),
            )
        case Queued() | SlotFreed():
            _admit(message, deps.dispatch, now)
        case FetchDesign():
            # Published on the git-fetch topic, which only the git fetcher reads: here only by mistake.
            log.error("a fetch message reached the dispatcher; acknowledged", extra=fields(job_id=message.job_id))
        case _:
            assert_never(message)


def _admit(trigger: Tick | Queued | SlotFreed, deps: DispatchDeps, now: Callable[[], datetime]) -> None:
    report = dispatch(deps, lease_holder(), now)
    if report.submitted or report.failed or report.rejected:
        log.info(
            "dispatch round done",
            extra=fields(
                submitted=len(report.submitted),
                failed=len(report.failed),
                rejected=len(report.rejected),
                trigger=trigger.kind,
            ),
        )
