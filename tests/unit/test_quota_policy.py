"""Property-based tests of the admission policy (shared/domain/quota.py)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.domain.quota import (
    QuotaLimits,
    UserQuota,
    UserState,
    WaitingJob,
    estimated_starts,
    fair_order,
    plan_admission,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
USERS = [f"u{i}@example.com" for i in range(6)]


@st.composite
def scenarios(draw):
    jobs = []
    for index in range(draw(st.integers(0, 40))):
        jobs.append(
            WaitingJob(
                job_id=f"j{index:03d}",
                owner=draw(st.sampled_from(USERS)),
                created_at=T0 + timedelta(seconds=draw(st.integers(0, 1000))),
                max_core_hours=draw(st.sampled_from([0.5, 1.0, 2.0])),
            )
        )
    active = {u: draw(st.integers(0, 3)) for u in USERS}
    used = {u: draw(st.sampled_from([0.0, 1.0, 5.0, 9.5])) for u in USERS}
    limits = QuotaLimits(
        global_concurrency=draw(st.integers(1, 20)),
        user_concurrency=draw(st.integers(1, 4)),
        user_monthly_core_hours=draw(st.sampled_from([3.0, 10.0, 1000.0])),
        budget_action=draw(st.sampled_from(["wait", "reject"])),
    )
    overrides = {USERS[0]: UserQuota(concurrency=draw(st.integers(1, 6)))} if draw(st.booleans()) else {}
    users = {u: UserState(active=active[u], core_hours_used=used[u]) for u in USERS}
    return jobs, users, limits, overrides


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_never_exceeds_a_limit(scenario):
    jobs, users, limits, overrides = scenario
    admission = plan_admission(jobs, users, limits, overrides)
    per_user = Counter(j.owner for j in admission.admit)
    total_active = sum(s.active for s in users.values())
    assert total_active + len(admission.admit) <= max(limits.global_concurrency, total_active)
    for user, count in per_user.items():
        user_limits = limits.for_user(overrides.get(user))
        assert users[user].active + count <= user_limits.user_concurrency
        spent = sum(j.max_core_hours for j in admission.admit if j.owner == user)
        assert users[user].core_hours_used + spent <= user_limits.user_monthly_core_hours + 1e-9


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_cluster_full_says_whether_any_slot_is_left(scenario):
    """The dispatcher skips its second look at the queue on a full cluster: full must mean no slot is left."""
    jobs, users, limits, overrides = scenario
    admission = plan_admission(jobs, users, limits, overrides)
    taken = sum(s.active for s in users.values()) + sum(j.slots for j in admission.admit)
    assert admission.cluster_full == (taken >= limits.global_concurrency)


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_respects_order_within_a_user(scenario):
    jobs, users, limits, overrides = scenario
    admission = plan_admission(jobs, users, limits, overrides)
    for user in USERS:
        mine = sorted((j for j in jobs if j.owner == user), key=lambda j: (j.created_at, j.job_id))
        admitted = [j for j in mine if j in admission.admit]
        # What is admitted of a user is always a prefix of that user's waiting jobs, oldest first.
        assert admitted == mine[: len(admitted)]


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_never_starves_a_user(scenario):
    """While slots are free, every user who could run gets one before any user gets a second in this round."""
    jobs, users, limits, overrides = scenario
    admission = plan_admission(jobs, users, limits, overrides)
    per_user = Counter(j.owner for j in admission.admit)
    rejected_or_blocked = set()
    for user in USERS:
        user_limits = limits.for_user(overrides.get(user))
        has_waiting = any(j.owner == user for j in jobs)
        oldest = min((j for j in jobs if j.owner == user), key=lambda j: (j.created_at, j.job_id), default=None)
        could_run = (
            has_waiting
            and users[user].active < user_limits.user_concurrency
            and oldest is not None
            and users[user].core_hours_used + oldest.max_core_hours <= user_limits.user_monthly_core_hours
        )
        if not could_run:
            rejected_or_blocked.add(user)
    starved = [u for u in USERS if u not in rejected_or_blocked and per_user[u] == 0]
    if starved:
        # Someone who could run got nothing: only allowed if the free slots ran out, and then nobody got two.
        total_active = sum(s.active for s in users.values())
        assert total_active + len(admission.admit) >= limits.global_concurrency
        assert max(per_user.values(), default=0) <= 1


@settings(max_examples=200, deadline=None)
@given(scenarios())
def test_every_job_is_admitted_rejected_or_still_waiting_exactly_once(scenario):
    jobs, users, limits, overrides = scenario
    admission = plan_admission(jobs, users, limits, overrides)
    ids = [j.job_id for j in admission.admit] + list(admission.reject) + [j.job_id for j in admission.waiting]
    assert sorted(ids) == sorted(j.job_id for j in jobs)
    if limits.budget_action == "wait":
        assert not admission.reject


def test_two_hundred_uploads_cannot_starve_a_single_job():
    flood = [WaitingJob(f"a{i:03d}", "flood@example.com", T0 + timedelta(seconds=i)) for i in range(200)]
    single = WaitingJob("b000", "single@example.com", T0 + timedelta(seconds=500))
    limits = QuotaLimits(global_concurrency=2, user_concurrency=10)
    admission = plan_admission([*flood, single], {}, limits)
    assert single in admission.admit
    # And in the queue as users see it, the single job comes before the flood's second job.
    order = fair_order([*flood, single])
    assert order.index(single) == 1


def test_budget_reject_names_the_numbers():
    job = WaitingJob("j1", "a@example.com", T0, max_core_hours=2.0)
    limits = QuotaLimits(user_monthly_core_hours=3.0, budget_action="reject")
    admission = plan_admission([job], {"a@example.com": UserState(core_hours_used=2.5)}, limits)
    assert not admission.admit
    assert "2.00 core-hours" in admission.reject["j1"] and "2.50 of your 3 core-hours" in admission.reject["j1"]


def test_estimated_start_grows_with_position():
    order = [WaitingJob(f"j{i}", f"u{i}", T0) for i in range(6)]
    starts = estimated_starts(order, free_slots=1, concurrency=2, typical_run_s=100, now=T0)
    assert starts["j0"] == T0
    assert starts["j1"] == starts["j2"] == T0 + timedelta(seconds=100)
    assert starts["j5"] == T0 + timedelta(seconds=300)
