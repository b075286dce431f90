"""Admission policy: which queued jobs may start now, fairly, within every limit.

Pure functions over plain values; the dispatcher feeds them from Firestore while it holds the dispatch lease.

Fairness: round-robin across users with waiting jobs, oldest first within a user. In each round every eligible user
gets at most one slot; users are served in order of (fewest active jobs, oldest waiting job). So one user's 200
uploads cannot starve another user's single job.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal

BudgetAction = Literal["wait", "reject"]


@dataclass(frozen=True)
class QuotaLimits:
    """Limits in force; per-user overrides replace single fields (None = use the default)."""

    global_concurrency: int = 10
    user_concurrency: int = 3
    user_max_queued: int = 50
    user_monthly_core_hours: float = 200.0
    budget_action: BudgetAction = "wait"

    def for_user(self, override: UserQuota | None) -> QuotaLimits:
        if override is None:
            return self
        return replace(
            self,
            user_concurrency=_pick(override.concurrency, self.user_concurrency),
            user_max_queued=_pick(override.max_queued, self.user_max_queued),
            user_monthly_core_hours=_pick(override.monthly_core_hours, self.user_monthly_core_hours),
        )


@dataclass(frozen=True)
class UserQuota:
    concurrency: int | None = None
    max_queued: int | None = None
    monthly_core_hours: float | None = None


@dataclass(frozen=True)
class WaitingJob:
    job_id: str
    owner: str
    created_at: datetime
    # The most core-hours this run can use: CPUs x time limit. Budget checks use it so a run can never overshoot.
    max_core_hours: float = 0.0
    # Runs the job would like in Slurm at once (a sweep: its run count); admission grants 1..slots of them.
    slots: int = 1


@dataclass(frozen=True)
class UserState:
    active: int = 0
    core_hours_used: float = 0.0  # finished runs this month + the maximum of the active ones


@dataclass(frozen=True)
class Admission:
    admit: tuple[WaitingJob, ...] = ()
    reject: Mapping[str, str] = field(default_factory=dict)  # job id -> reason
    # Fair order of every job still waiting after this admission (the queue as users see it).
    waiting: tuple[WaitingJob, ...] = ()
    # No cluster slot is left once these start: no other waiting job, nor one queued meanwhile, could start now.
    cluster_full: bool = False


def plan_admission(
    queued: Sequence[WaitingJob],
    users: Mapping[str, UserState],
    defaults: QuotaLimits,
    overrides: Mapping[str, UserQuota] | None = None,
) -> Admission:
    overrides = overrides or {}
    by_user = _group_oldest_first(queued)
    active = {u: users.get(u, UserState()).active for u in by_user}
    used = {u: users.get(u, UserState()).core_hours_used for u in by_user}
    free = defaults.global_concurrency - sum(s.active for s in users.values())
    admitted: list[WaitingJob] = []
    rejected: dict[str, str] = {}
    over_budget: set[str] = set()

    def eligible(user: str) -> bool:
        limits = defaults.for_user(overrides.get(user))
        return user not in over_budget and bool(by_user[user]) and active[user] < limits.user_concurrency

    while free > 0:
        round_users = sorted(
            (u for u in by_user if eligible(u)), key=lambda u: (active[u], by_user[u][0].created_at, u)
        )
        if not round_users:
            break
        progressed = False
        for user in round_users:
            if free <= 0:
                break
            limits = defaults.for_user(overrides.get(user))
            job = by_user[user][0]
            if used[user] + job.max_core_hours > limits.user_monthly_core_hours + 1e-9:
                over_budget.add(user)
                if limits.budget_action == "reject":
                    for waiting in by_user[user]:
                        if used[user] + waiting.max_core_hours > limits.user_monthly_core_hours + 1e-9:
                            rejected[waiting.job_id] = budget_reason(limits, used[user], waiting)
                continue
            by_user[user].pop(0)
            # Quotas count runs: a sweep takes as many slots as its user and the cluster have free (at least one),
            # which becomes its Slurm array throttle.
            taken = max(1, min(job.slots, limits.user_concurrency - active[user], free))
            admitted.append(replace(job, slots=taken))
            active[user] += taken
            used[user] += job.max_core_hours
            free -= taken
            progressed = True
        if not progressed:
            break
    leftover = [j for jobs in by_user.values() for j in jobs if j.job_id not in rejected]
    return Admission(tuple(admitted), rejected, tuple(fair_order(leftover, active)), cluster_full=free <= 0)


def fair_order(waiting: Sequence[WaitingJob], active: Mapping[str, int] | None = None) -> list[WaitingJob]:
    """The order in which waiting jobs would start if every limit allowed: round-robin across users."""
    active = active or {}
    by_user = _group_oldest_first(waiting)
    order: list[WaitingJob] = []
    depth = 0
    while any(len(jobs) > depth for jobs in by_user.values()):
        users = sorted(
            (u for u, jobs in by_user.items() if len(jobs) > depth),
            key=lambda u: (active.get(u, 0) + depth, by_user[u][depth].created_at, u),
        )
        order.extend(by_user[u][depth] for u in users)
        depth += 1
    return order


def estimated_starts(
    order: Sequence[WaitingJob], free_slots: int, concurrency: int, typical_run_s: float, now: datetime
) -> dict[str, datetime]:
    """Rough start time per waiting job: slots free up at about `concurrency / typical_run_s` per second."""
    estimates = {}
    for position, job in enumerate(order):
        waves = max(0, math.ceil((position + 1 - max(free_slots, 0)) / max(concurrency, 1)))
        estimates[job.job_id] = now + timedelta(seconds=waves * typical_run_s)
    return estimates


def queued_limit_reason(limits: QuotaLimits, waiting: int) -> str | None:
    if waiting >= limits.user_max_queued:
        return (
            f"you already have {waiting} jobs waiting, the most allowed is {limits.user_max_queued}; "
            "upload again when some have started"
        )
    return None


def budget_reason(limits: QuotaLimits, used: float, job: WaitingJob) -> str:
    return (
        f"this run may use up to {job.max_core_hours:.2f} core-hours and you have used {used:.2f} of your "
        f"{limits.user_monthly_core_hours:g} core-hours this month"
    )


def _group_oldest_first(jobs: Sequence[WaitingJob]) -> dict[str, list[WaitingJob]]:
    by_user: dict[str, list[WaitingJob]] = {}
    for job in sorted(jobs, key=lambda j: (j.created_at, j.job_id)):
        by_user.setdefault(job.owner, []).append(job)
    return by_user


def _pick(value: float | int | None, default: float | int) -> float | int:  # type: ignore[misc]
    return default if value is None else value
