"""The layers of shared/ point one way: the domain depends on nothing, ports on the domain, services on both, adapters
implement ports; and the package deployed to Cloud Functions holds what the functions need and nothing else.

Read from the source (every import statement, also inside functions and under TYPE_CHECKING), not from what happens
to be imported at run time.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / "shared"
STDLIB = frozenset(sys.stdlib_module_names)
# Calls that read or write files; the domain gets text and streams handed to it instead (tarfile.open(fileobj=...)
# on a stream it was given is no file access).
FILE_METHODS = frozenset({"read_text", "read_bytes", "write_text", "write_bytes", "iterdir", "rglob"})
FILE_MODULES = frozenset({"os", "glob", "shutil"})


def modules(folder: Path) -> Iterator[Path]:
    yield from sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def imported(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def where(path: Path, line: int) -> str:
    return f"{path.relative_to(REPO)}:{line}"


def test_the_domain_imports_only_itself_and_the_standard_library() -> None:
    wrong = [
        f"{where(path, line)} imports {name}"
        for path in modules(SHARED / "domain")
        for line, name in imported(path)
        if not (name == "shared.domain" or name.startswith("shared.domain.") or name.split(".")[0] in STDLIB)
    ]
    assert wrong == [], "the domain must not import ports, adapters, services or third-party packages (PIL...)"


def test_the_domain_reads_no_files() -> None:
    wrong = []
    for path in modules(SHARED / "domain"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "__file__":
                wrong.append(f"{where(path, node.lineno)} locates files from its own path")
            if isinstance(node, ast.Call) and _file_access(node.func):
                wrong.append(f"{where(path, node.lineno)} calls {ast.unparse(node.func)}()")
    assert wrong == [], "I/O belongs in adapters or bootstrap, which hand the domain what it needs"


def _file_access(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id == "open"
    if isinstance(func, ast.Attribute):
        module = func.value.id if isinstance(func.value, ast.Name) else ""
        return func.attr in FILE_METHODS or module in FILE_MODULES
    return False


@pytest.mark.parametrize(
    ("layer", "allowed"),
    [
        ("ports.py", ("shared.domain",)),
        ("services", ("shared.domain", "shared.ports", "shared.services", "shared.structured_log")),
        ("adapters", ("shared.domain", "shared.ports", "shared.adapters", "shared.structured_log")),
    ],
)
def test_each_layer_imports_only_the_layers_below(layer: str, allowed: tuple[str, ...]) -> None:
    target = SHARED / layer
    paths = [target] if target.is_file() else list(modules(target))
    wrong = [
        f"{where(path, line)} imports {name}"
        for path in paths
        for line, name in imported(path)
        if name.startswith("shared") and not any(name == a or name.startswith(a + ".") for a in allowed)
    ]
    assert wrong == []


def test_the_deployed_function_package_holds_no_cli_local_stack_or_demo(tmp_path: Path) -> None:
    out = tmp_path / "functions.zip"
    subprocess.run(["bash", str(REPO / "infra" / "package_functions.sh"), str(out)], check=True, capture_output=True)
    names = zipfile.ZipFile(out).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"main.py", "requirements.txt", "shared", "functions", "infra"}, top
    assert not [n for n in names if n.startswith(("olc_cli/", "devstack/")) or n.endswith("demo.py")]
    assert {n for n in names if n.startswith("infra/")} <= {
        f"infra/slurm/{p.name}" for p in (REPO / "infra" / "slurm").iterdir()
    }
    # What the deployed code imports resolves inside the package or to its requirements.
    shipped = [n for n in names if n.endswith(".py")]
    for name in shipped:
        source = zipfile.ZipFile(out).read(name).decode()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                assert not node.module.startswith(("olc_cli", "devstack", "tests")), f"{name} imports {node.module}"
