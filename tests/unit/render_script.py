"""The render script's text, read the way shared/bootstrap.py reads it for the runners it builds (the domain reads
no files), for tests that build runners directly."""

from __future__ import annotations

from pathlib import Path

RENDER_SCRIPT = (Path(__file__).resolve().parents[2] / "infra" / "slurm" / "render_layout.py").read_text()
