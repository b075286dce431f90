"""What the local stack's flows run, as FLOW_VERSIONS (shared/config.py) for the content key: the Debian packages'
versions, LibreLane's pins, and a hash of the project's LibreLane PDK configuration."""

from __future__ import annotations

import hashlib
import subprocess

from devstack import librelane

_QFLOW_PACKAGES = ("qflow", "yosys", "graywolf", "qrouter", "magic", "netgen-lvs", "qflow-tech-osu035")
_SYNTH_STA_PACKAGES = ("yosys", "opensta", "qflow-tech-osu035")


def flow_versions() -> str:
    versions = _debian_versions({*_QFLOW_PACKAGES, *_SYNTH_STA_PACKAGES, *librelane.PACKAGES})
    pdk_files = sorted(p for p in (librelane.INFRA / "pdk").rglob("*") if p.is_file())
    pdk = hashlib.sha256(b"".join(p.read_bytes() for p in pdk_files)).hexdigest()[:12]
    entries = {
        "qflow-osu035": " ".join(f"{p}/{versions[p]}" for p in _QFLOW_PACKAGES),
        "yosys-osu035": " ".join(f"{p}/{versions[p]}" for p in _SYNTH_STA_PACKAGES),
        "librelane-osu035": " ".join(
            [*librelane.PINS, *(f"{p}/{versions[p]}" for p in librelane.PACKAGES), f"olc-pdk/{pdk}"]
        ),
    }
    return ",".join(f"{flow}={version}" for flow, version in entries.items())


def _debian_versions(packages: set[str]) -> dict[str, str]:
    found = dict.fromkeys(packages, "absent")
    try:
        out = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Package} ${Version}\\n", *sorted(packages)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return found
    for line in out.splitlines():
        name, _, version = line.partition(" ")
        if name in found and version:
            found[name] = version
    return found
