"""Peak memory of validating a ~1 GiB (unpacked) upload, the way ingest does, in a fresh process per archive.

Builds a .tar.gz and a .zip of the same design: a config.json and N Verilog-like files (default 4096 x 256 KiB =
1 GiB, moderately compressible text), written to a temporary folder. Each is then validated in a new Python process
through shared.domain.archive.read_design_archive (reading the file, as ingest reads the spooled download) and
parse_design_config, and the child's peak RSS is taken from the kernel (os.wait4, the per-child figure behind
getrusage(RUSAGE_CHILDREN)). That figure also counts the pages the child held between fork and exec, so the child's
own high-water mark (VmHWM, after exec) is shown too. A child that only imports the modules gives the baseline.

Prints a table and PASS/FAIL against the goal (peak < 150 MB), and as its last line one JSON object of the figures.
Usage: python bench/ingest_memory.py [--files 4096] [--file-kib 256] [--goal-mb 150] [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
POOL = 32  # distinct 256 KiB bodies; every file still differs (its own header line)
CONFIG = {"DESIGN_NAME": "bench_top", "VERILOG_FILES": "dir::src/*.v", "CLOCK_PORT": "clk", "CLOCK_PERIOD": 10}

# Runs in the child: validate one archive and report what it found.
CHILD = """
import json, sys, time
from shared.domain.archive import ArchiveLimits, read_design_archive
from shared.domain.design_config import parse_design_config
path, limits = sys.argv[1], json.loads(sys.argv[2])
result = {}
if path != "-":
    started = time.perf_counter()
    with open(path, "rb") as stream:
        archive = read_design_archive(stream, ArchiveLimits(**limits), declared_name=path)
    design = parse_design_config(archive.config_text, archive.design_files(), flow="qflow-osu035")
    result = {
        "entries": len(archive.files),
        "unpacked_bytes": archive.total_bytes,
        "verilog_files": len(design.verilog_files),
        "validate_s": round(time.perf_counter() - started, 2),
    }
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
print(json.dumps({"vm_hwm_mb": round(hwm / 1024, 1), **result}))
"""


def verilog_bodies(size: int) -> list[bytes]:
    """Module bodies of plausible RTL: assigns and always blocks over a modest vocabulary (compresses ~5-8x)."""
    rng = random.Random(5)
    words = ["data", "addr", "valid", "ready", "state", "count", "sum", "carry", "mask", "req", "ack", "buf"]
    ops = ["+", "-", "&", "|", "^"]
    bodies = []
    for index in range(POOL):
        lines = [f"module blk_{index} (input clk, input rst_n, input [31:0] din, output reg [31:0] dout);\n"]
        length = len(lines[0])
        while length < size - 200:
            a, b, c = (f"{rng.choice(words)}_{rng.randrange(64)}" for _ in range(3))
            if rng.random() < 0.8:
                line = f"  assign {a} = {b} {rng.choice(ops)} {c};  // stage {rng.randrange(16)}\n"
            else:
                line = f"  always @(posedge clk) if (!rst_n) {a} <= 32'd0; else {a} <= {b};\n"
            lines.append(line)
            length += len(line)
        body = "".join(lines).encode()
        bodies.append(body[: size - len(b"endmodule\n")] + b"endmodule\n")
    return bodies


def members(count: int, bodies: list[bytes]) -> Iterator[tuple[str, bytes]]:
    """The design's files, made one at a time so the builder never holds the gigabyte."""
    yield "bench/config.json", json.dumps(CONFIG).encode()
    for i in range(count):
        header = f"// generated file {i:05}\n".encode()
        body = bodies[i % POOL]
        yield f"bench/src/m{i:05}.v", header + body[len(header) :]


def write_tar_gz(path: Path, files: Iterable[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def write_zip(path: Path, files: Iterable[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, data in files:
            info = zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0))
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)


def validate(path: str, limits: dict[str, float]) -> dict[str, float]:
    """Run the validation in a fresh interpreter; its result plus its peak RSS (MB) and wall time."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, path, json.dumps(limits)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    stdout, stderr = child.stdout.read(), child.stderr.read()  # small: one JSON line, or a traceback
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"validation of {path} failed:\n{stderr.decode()}")
    result = json.loads(stdout)
    result["peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)  # Linux reports KiB
    result["child_wall_s"] = round(time.perf_counter() - started, 2)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=4096)
    parser.add_argument("--file-kib", type=int, default=256)
    parser.add_argument("--goal-mb", type=float, default=150.0)
    parser.add_argument("--keep", type=Path, help="write the archives here and keep them")
    args = parser.parse_args()

    size = args.file_kib << 10
    limits = {"max_entries": args.files + 10, "max_total_bytes": 2 * args.files * size, "max_file_bytes": 2 * size}
    folder = args.keep or Path(tempfile.mkdtemp(prefix="olc-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    bodies = verilog_bodies(size)
    figures: dict[str, object] = {"files": args.files, "file_kib": args.file_kib, "goal_mb": args.goal_mb}
    rows = {}
    try:
        for kind, writer in (("tar.gz", write_tar_gz), ("zip", write_zip)):
            path = folder / f"bench.{kind}"
            started = time.perf_counter()
            writer(path, members(args.files, bodies))
            built = time.perf_counter() - started
            print(f"built {path.name}: {path.stat().st_size / (1 << 20):.1f} MiB in {built:.1f} s", flush=True)
            result = validate(str(path), limits)
            result["compressed_mib"] = round(path.stat().st_size / (1 << 20), 1)
            result["build_s"] = round(built, 1)
            result["pass"] = result["peak_rss_mb"] < args.goal_mb
            rows[kind] = result
            if not args.keep:
                path.unlink()
        baseline = validate("-", limits)
        figures["baseline_rss_mb"] = baseline["peak_rss_mb"]
        figures["baseline_vm_hwm_mb"] = baseline["vm_hwm_mb"]
    finally:
        if not args.keep:
            for leftover in folder.glob("bench.*"):
                leftover.unlink()
            folder.rmdir()
    figures.update(rows)
    figures["wall_s"] = round(time.monotonic() - began, 1)

    print()
    header = f"{'archive':<8}{'entries':>9}{'unpacked MiB':>14}{'compressed MiB':>16}{'ratio':>7}"
    print(header + f"{'validate s':>12}{'peak RSS MB':>13}{'VmHWM MB':>10}  verdict (< {args.goal_mb:g} MB)")
    for kind, row in rows.items():
        unpacked = row["unpacked_bytes"] / (1 << 20)
        print(
            f"{kind:<8}{row['entries']:>9}{unpacked:>14.1f}{row['compressed_mib']:>16.1f}"
            f"{unpacked / row['compressed_mib']:>7.1f}{row['validate_s']:>12.2f}{row['peak_rss_mb']:>13.1f}"
            f"{row['vm_hwm_mb']:>10.1f}  {'PASS' if row['pass'] else 'FAIL'}"
        )
    print(f"{'(python + imports only)':<54}{'':>12}{baseline['peak_rss_mb']:>13.1f}{baseline['vm_hwm_mb']:>10.1f}")
    figures["pass"] = all(row["pass"] for row in rows.values())
    print(json.dumps(figures))
    return 0 if figures["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
