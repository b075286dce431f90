"""Use cases: read and change quotas. Anyone may read their own; only admins read others' or change any."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from shared.domain.quota import QuotaLimits, UserQuota
from shared.ports import QuotaStore

DEFAULTS = "_defaults"


class Forbidden(PermissionError):
    pass


class InvalidQuota(ValueError):
    pass


def show_quota(quotas: QuotaStore, base: QuotaLimits, caller: str, user: str, now: datetime) -> dict[str, Any]:
    if user != caller and not quotas.is_admin(caller):
        raise Forbidden("only admins can see other users' quotas")
    limits = quotas.limits(base)
    if user == DEFAULTS:
        return {"defaults": asdict(limits)}
    override = quotas.overrides([user]).get(user)
    effective = limits.for_user(override)
    month = now.strftime("%Y-%m")
    return {
        "user": user,
        "concurrency": effective.user_concurrency,
        "max_queued": effective.user_max_queued,
        "monthly_core_hours": effective.user_monthly_core_hours,
        "budget_action": effective.budget_action,
        "month": month,
        "core_hours_used": round(quotas.usage([user], month).get(user, 0.0), 4),
        "override": asdict(override) if override else None,
    }


def set_quota(quotas: QuotaStore, caller: str, user: str, values: dict[str, Any]) -> None:
    if not quotas.is_admin(caller):
        raise Forbidden("only admins can change quotas")
    if user == DEFAULTS:
        quotas.set_defaults(_checked(values, QuotaLimits))
        return
    quotas.set_user(user, UserQuota(**_checked(values, UserQuota)))


def _checked(values: dict[str, Any], kind: type) -> dict[str, Any]:
    allowed = set(kind.__dataclass_fields__)
    unknown = set(values) - allowed
    if unknown:
        raise InvalidQuota(f"unknown quota fields {sorted(unknown)}; allowed: {sorted(allowed)}")
    for key, value in values.items():
        if key == "budget_action":
            if value not in ("wait", "reject"):
                raise InvalidQuota("budget_action must be 'wait' or 'reject'")
        elif value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value <= 0):
            raise InvalidQuota(f"{key} must be a positive number or null")
    return values
