"""Secret sources and the login-node finder, with fake clients at the Google API boundary.

The fakes return the real proto messages the client libraries return, and record the requests the adapters
build, so what is checked is exactly what would go over the wire.
"""

from __future__ import annotations

import logging
from pathlib import Path

import google_crc32c
import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1, secretmanager

from shared.adapters.compute_login import ComputeLoginNodeFinder, LoginNodeNotFound
from shared.adapters.secrets import DirectorySecrets, SecretManagerSecrets
from shared.ports import ClusterError, SecretNotFound

SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


# ------------------------------------------------------------------------------------------ DirectorySecrets
def test_directory_secrets_reads_files_verbatim(tmp_path: Path) -> None:
    (tmp_path / "slurm-ssh-key").write_text(SSH_KEY)
    (tmp_path / "hook_key").write_bytes("s3cr\u00e9t".encode())
    secrets = DirectorySecrets(tmp_path)

    assert secrets.get("slurm-ssh-key") == SSH_KEY  # final newline kept: OpenSSH needs it
    assert secrets.get("hook_key") == "s3cr\u00e9t"


def test_directory_secrets_missing_names_the_secret(tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    secrets = DirectorySecrets(tmp_path / "nope")
    with pytest.raises(SecretNotFound, match="'smtp-password'"):
        secrets.get("smtp-password")
    with pytest.raises(SecretNotFound, match="'a-folder'"):
        DirectorySecrets(tmp_path).get("a-folder")


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "", ".hidden", "x" * 256, "sp ace"])
def test_directory_secrets_refuses_names_outside_the_directory(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="not a valid secret name"):
        DirectorySecrets(tmp_path).get(name)


def test_non_utf8_secret_is_refused_without_showing_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "binary").write_bytes(b"\xff\xfesecret")
    with pytest.raises(ValueError, match="not UTF-8") as caught:
        DirectorySecrets(tmp_path).get("binary")
    assert "xff" not in str(caught.value) and caught.value.__suppress_context__


# ------------------------------------------------------------------------------------------ Secret Manager
class FakeSecretManager:
    """Stands in for SecretManagerServiceClient.access_secret_version."""

    def __init__(self, secrets: dict[str, bytes], *, corrupt: bool = False) -> None:
        self.secrets = secrets
        self.corrupt = corrupt
        self.requests: list[secretmanager.AccessSecretVersionRequest] = []

    def access_secret_version(
        self, request: secretmanager.AccessSecretVersionRequest
    ) -> secretmanager.AccessSecretVersionResponse:
        self.requests.append(request)
        secret = request.name.split("/")[3]
        if secret not in self.secrets:
            raise gexc.NotFound(f"Secret [{request.name}] not found or has no versions.")
        data = self.secrets[secret]
        checksum = google_crc32c.value(data) + (1 if self.corrupt else 0)
        return secretmanager.AccessSecretVersionResponse(
            name=request.name.replace("latest", "3"),
            payload=secretmanager.SecretPayload(data=data, data_crc32c=checksum),
        )


def test_secret_manager_builds_the_latest_version_name_and_decodes() -> None:
    fake = FakeSecretManager({"slurm-ssh-key": SSH_KEY.encode()})
    secrets = SecretManagerSecrets("olc-prod", client=fake)

    assert secrets.get("slurm-ssh-key") == SSH_KEY
    assert [r.name for r in fake.requests] == ["projects/olc-prod/secrets/slurm-ssh-key/versions/latest"]
    assert isinstance(fake.requests[0], secretmanager.AccessSecretVersionRequest)


def test_secret_manager_caches_values_for_the_process() -> None:
    fake = FakeSecretManager({"hook-key": b"k1"})
    secrets = SecretManagerSecrets("olc-prod", client=fake)

    assert secrets.get("hook-key") == "k1"
    fake.secrets["hook-key"] = b"k2"  # rotated: this process keeps the value it read
    assert secrets.get("hook-key") == "k1"
    assert len(fake.requests) == 1


def test_secret_manager_not_found_names_the_secret_and_is_not_cached() -> None:
    fake = FakeSecretManager({})
    secrets = SecretManagerSecrets("olc-prod", client=fake)

    with pytest.raises(SecretNotFound, match=r"'smtp-password'.*'olc-prod'") as caught:
        secrets.get("smtp-password")
    assert caught.value.__cause__ is None

    fake.secrets["smtp-password"] = b"pw"  # created afterwards: found on the next call
    assert secrets.get("smtp-password") == "pw"
    assert len(fake.requests) == 2


def test_secret_manager_other_errors_propagate() -> None:
    class Denied:
        def access_secret_version(self, request: object) -> None:
            raise gexc.PermissionDenied("Permission 'secretmanager.versions.access' denied")

    with pytest.raises(gexc.PermissionDenied):
        SecretManagerSecrets("olc-prod", client=Denied()).get("hook-key")


def test_secret_manager_detects_a_corrupted_payload() -> None:
    secrets = SecretManagerSecrets("olc-prod", client=FakeSecretManager({"k": b"value"}, corrupt=True))
    with pytest.raises(RuntimeError, match="CRC32C"):
        secrets.get("k")


def test_secret_manager_refuses_bad_names_before_calling() -> None:
    fake = FakeSecretManager({})
    with pytest.raises(ValueError, match="not a valid secret name"):
        SecretManagerSecrets("olc-prod", client=fake).get("x/versions/1")
    assert fake.requests == []
    with pytest.raises(ValueError, match="project"):
        SecretManagerSecrets("", client=fake)


def test_secret_values_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = SecretManagerSecrets("olc-prod", client=FakeSecretManager({"hook-key": b"TOPSECRET-VALUE"}))
    secrets.get("hook-key")
    secrets.get("hook-key")
    assert "hook-key" in caplog.text
    assert "TOPSECRET" not in caplog.text


# ------------------------------------------------------------------------------------------ Compute
class FakeInstances:
    """Stands in for InstancesClient.list; like the real pager, the result is an iterable of Instance."""

    def __init__(self, instances: list[compute_v1.Instance]) -> None:
        self.instances = instances
        self.calls: list[tuple[compute_v1.ListInstancesRequest, float]] = []

    def list(self, request: compute_v1.ListInstancesRequest, timeout: float) -> list[compute_v1.Instance]:
        self.calls.append((request, timeout))
        return self.instances


def vm(name: str, status: str = "RUNNING", ip: str | None = "10.0.0.2") -> compute_v1.Instance:
    # The generated proto field for the API's networkIP is `network_i_p` (there is no `network_ip`).
    interfaces = [compute_v1.NetworkInterface(network_i_p=ip)] if ip else []
    return compute_v1.Instance(name=name, status=status, network_interfaces=interfaces)


def test_finder_sends_the_project_zone_and_name_filter() -> None:
    fake = FakeInstances([vm("olc-login-l0-001", ip="10.128.0.7")])
    finder = ComputeLoginNodeFinder("olc-prod", "europe-west1-b", client=fake)

    assert finder.find_login_host() == "10.128.0.7"
    request, timeout = fake.calls[0]
    assert isinstance(request, compute_v1.ListInstancesRequest)
    assert (request.project, request.zone, request.filter) == ("olc-prod", "europe-west1-b", "name eq '.*login.*'")
    assert timeout == 30.0


def test_finder_picks_the_first_running_login_node_by_name() -> None:
    fake = FakeInstances(
        [
            vm("olc-login-l0-003", ip="10.0.0.3"),
            vm("olc-login-l0-001", status="STOPPING", ip="10.0.0.1"),
            vm("olc-login-l0-002", ip="10.0.0.2"),
            vm("olc-controller", ip="10.0.0.9"),  # the server-side filter would drop it; the client check does too
        ]
    )
    assert ComputeLoginNodeFinder("p", "z", client=fake).find_login_host() == "10.0.0.2"


def test_finder_skips_a_running_node_without_an_internal_ip() -> None:
    fake = FakeInstances([vm("c-login-a-001", ip=None), vm("c-login-a-002", ip="10.0.0.5")])
    assert ComputeLoginNodeFinder("p", "z", client=fake).find_login_host() == "10.0.0.5"


def test_finder_custom_pattern_goes_into_the_filter() -> None:
    fake = FakeInstances([vm("hpc-bastion-001", ip="10.1.0.4")])
    assert ComputeLoginNodeFinder("p", "z", "bastion", client=fake).find_login_host() == "10.1.0.4"
    assert fake.calls[0][0].filter == "name eq '.*bastion.*'"


def test_finder_explains_what_it_saw() -> None:
    fake = FakeInstances([vm("olc-login-l0-002", status="TERMINATED"), vm("olc-login-l0-001", status="STAGING")])
    with pytest.raises(LoginNodeNotFound) as caught:
        ComputeLoginNodeFinder("olc-prod", "us-central1-a", client=fake).find_login_host()
    message = str(caught.value)
    assert "'olc-prod'" in message and "'us-central1-a'" in message and "'login'" in message
    assert "saw: olc-login-l0-001 (STAGING), olc-login-l0-002 (TERMINATED)" in message
    assert isinstance(caught.value, ClusterError)  # callers of Cluster already handle this


def test_finder_with_nothing_found() -> None:
    with pytest.raises(LoginNodeNotFound, match=r"no instance whose name contains 'login'.*'p'.*'z'"):
        ComputeLoginNodeFinder("p", "z", client=FakeInstances([])).find_login_host()


def test_finder_truncates_a_long_list_of_seen_instances() -> None:
    fake = FakeInstances([vm(f"c-login-x-{n:03d}", status="TERMINATED") for n in range(25)])
    with pytest.raises(LoginNodeNotFound, match=r"c-login-x-009 \(TERMINATED\), \.\.\. \(25 in all\)"):
        ComputeLoginNodeFinder("p", "z", client=fake).find_login_host()


@pytest.mark.parametrize("pattern", ["", "Login", "login.*", "a b", "x" * 64])
def test_finder_refuses_patterns_that_are_not_instance_name_text(pattern: str) -> None:
    with pytest.raises(ValueError, match="name pattern"):
        ComputeLoginNodeFinder("p", "z", pattern, client=FakeInstances([]))


def test_finder_needs_project_and_zone() -> None:
    with pytest.raises(ValueError, match="zone"):
        ComputeLoginNodeFinder("p", "", client=FakeInstances([]))
