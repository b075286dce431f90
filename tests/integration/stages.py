"""Run a FlowPlan's stages locally the way the job kit (infra/slurm/olc_job.py) does, for the flow tests."""

from __future__ import annotations

import os
import struct
import subprocess
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

from shared.domain.design import DesignSpec
from shared.domain.design_config import parse_design_config
from shared.domain.flows.base import FlowPlan

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class StageResult:
    name: str
    returncode: int
    output: str
    seconds: float


def design_spec(folder: Path, flow: str) -> DesignSpec:
    """The DesignSpec that ingest makes of this folder's upload."""
    files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
    return parse_design_config((folder / "config.json").read_text(), files, flow=flow)


def run_stages(plan: FlowPlan, work: Path) -> list[StageResult]:
    """Each stage in order, stopping at the first failure, as infra/slurm/olc_job.py does."""
    results = []
    for stage in plan.stages:
        started = time.perf_counter()
        done = subprocess.run(
            stage.argv,
            cwd=work / stage.cwd,
            env={**os.environ, **stage.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
        results.append(StageResult(stage.name, done.returncode, done.stdout, time.perf_counter() - started))
        if done.returncode != 0:
            break
    return results


@dataclass
class Png:
    width: int
    height: int
    colours: set[bytes]


def read_png(data: bytes) -> Png:
    """Decode an 8-bit RGB or RGBA PNG without interlacing (what KLayout writes): size and distinct colours."""
    assert data.startswith(PNG_SIGNATURE), "not a PNG"
    chunks: dict[bytes, bytes] = {}
    position = len(PNG_SIGNATURE)
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in {kind!r}"
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    assert b"IEND" in chunks, "truncated PNG"
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, colour_type, interlace) in ((8, 2, 0), (8, 6, 0)), "only 8-bit RGB(A) is decoded here"
    pixel = 3 if colour_type == 2 else 4
    raw = zlib.decompress(chunks[b"IDAT"])
    stride = width * pixel
    assert len(raw) == height * (stride + 1)
    previous = bytearray(stride)
    colours: set[bytes] = set()
    for row in range(height):
        start = row * (stride + 1)
        line = _unfilter(raw[start], bytearray(raw[start + 1 : start + 1 + stride]), previous, pixel)
        colours.update(bytes(line[i : i + 3]) for i in range(0, stride, pixel))
        previous = line
    return Png(width, height, colours)


def _unfilter(kind: int, line: bytearray, previous: bytearray, pixel: int) -> bytearray:
    for i in range(len(line)):
        left = line[i - pixel] if i >= pixel else 0
        up = previous[i]
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            corner = previous[i - pixel] if i >= pixel else 0
            estimate = left + up - corner
            distances = (abs(estimate - left), abs(estimate - up), abs(estimate - corner))
            nearest = (left, up, corner)[distances.index(min(distances))]
            line[i] = (line[i] + nearest) & 0xFF
    return line
