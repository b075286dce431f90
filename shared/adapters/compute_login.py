"""Find the Slurm login node to SSH to, from the Compute Engine API.

slurm-gcp names login VMs `<cluster>-login-<group>-<suffix>` and recreates them (new IP) on redeploys, so the
address is looked up each time rather than configured.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from google.cloud import compute_v1

from shared.ports import ClusterError

# Compute Engine instance names are lowercase letters, digits and '-'; a pattern within that alphabet needs no
# escaping in the API's RE2 filter syntax.
NAME_PATTERN = re.compile(r"^[a-z0-9-]{1,63}$")
RUNNING = "RUNNING"
_SEEN_LIMIT = 10


class LoginNodeNotFound(ClusterError):
    """No running login node: the cluster cannot be reached (a ClusterError, as Cluster callers expect)."""


class ComputeLoginNodeFinder:
    """LoginNodeFinder: internal IP of the first RUNNING instance, by name, whose name contains a pattern."""

    def __init__(
        self,
        project_id: str,
        zone: str,
        name_pattern: str = "login",
        client: Any = None,
        *,
        timeout_s: float = 30.0,
    ) -> None:
        if not project_id or not zone:
            raise ValueError("a project id and a zone are required to find the login node")
        if not NAME_PATTERN.match(name_pattern):
            raise ValueError(f"name pattern {name_pattern!r} may use only a-z, 0-9 and '-', as instance names")
        self.project_id = project_id
        self.zone = zone
        self.name_pattern = name_pattern
        self.timeout_s = timeout_s
        self._client = client

    def list_request(self) -> compute_v1.ListInstancesRequest:
        # Filtering on the server keeps the answer small in a project full of compute nodes. The regex form
        # must match the whole name, hence the `.*` on both sides. Status is checked here, not in the filter:
        # the API cannot combine regex constraints on several fields.
        return compute_v1.ListInstancesRequest(
            project=self.project_id, zone=self.zone, filter=f"name eq '.*{self.name_pattern}.*'"
        )

    def find_login_host(self) -> str:
        instances = list(self._compute().list(request=self.list_request(), timeout=self.timeout_s))
        for instance in self._candidates(instances):
            if address := _internal_ip(instance):
                return address
        raise LoginNodeNotFound(self._explain(instances))

    def _candidates(self, instances: Iterable[compute_v1.Instance]) -> list[compute_v1.Instance]:
        # Sorted so every caller picks the same node while several are up (e.g. during a redeploy).
        return sorted(
            (i for i in instances if i.status == RUNNING and self.name_pattern in i.name),
            key=lambda i: i.name,
        )

    def _explain(self, instances: list[compute_v1.Instance]) -> str:
        where = f"project {self.project_id!r}, zone {self.zone!r}"
        if not instances:
            return f"no instance whose name contains {self.name_pattern!r} in {where}"
        ordered = sorted(instances, key=lambda i: i.name)
        seen = ", ".join(f"{i.name} ({i.status or 'UNKNOWN'})" for i in ordered[:_SEEN_LIMIT])
        if len(ordered) > _SEEN_LIMIT:
            seen += f", ... ({len(ordered)} in all)"
        return (
            f"no RUNNING instance with an internal IP whose name contains {self.name_pattern!r} in {where}; saw: {seen}"
        )

    def _compute(self) -> Any:
        if self._client is None:  # created on first use: constructing one needs credentials
            self._client = compute_v1.InstancesClient()
        return self._client


def _internal_ip(instance: compute_v1.Instance) -> str | None:
    # The proto field is `network_i_p` (the generated name for the API's `networkIP`).
    interfaces = instance.network_interfaces
    return (interfaces[0].network_i_p or None) if interfaces else None
