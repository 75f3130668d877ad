"""The library stands alone: voiceadapt/ imports neither the service nor the training code,
and the installed distribution puts no generic ``server``/``training`` package on the path."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UPPER_LAYERS = {"server", "training", "tests"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions (absolute names)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            if node.args and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
    return names


def test_the_library_imports_neither_the_service_nor_training():
    offenders = {f"{path.relative_to(ROOT)}: {name}"
                 for path in (ROOT / "voiceadapt").rglob("*.py")
                 for name in imported_modules(path) if name.split(".")[0] in UPPER_LAYERS}
    assert not offenders, sorted(offenders)


def test_the_walk_sees_imports_inside_functions(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("def f():\n    from server.db import Database\n    import training.train\n")
    assert imported_modules(probe) == {"server.db", "training.train"}


def test_loading_the_whole_library_loads_no_upper_layer():
    code = ("import sys, pkgutil, importlib, voiceadapt\n"
            "for m in pkgutil.walk_packages(voiceadapt.__path__, 'voiceadapt.'):\n"
            "    importlib.import_module(m.name)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'server', 'training'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout.strip()
    assert out == "[]", out


@pytest.mark.slow  # pip fetches the build backend from PyPI
def test_the_wheel_holds_only_the_library(tmp_path):
    """``pip install .`` installs what the wheel holds: voiceadapt and its bundled model."""
    src = tmp_path / "src"  # a copy: building writes build/ beside pyproject.toml
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy(ROOT / name, src / name)
    for folder in ("voiceadapt", "server", "training"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, timeout=600)
    wheel = next((tmp_path / "dist").glob("voiceadapt-*.whl"))
    import voiceadapt

    assert wheel.name.startswith(f"voiceadapt-{voiceadapt.__version__}-")  # one version string
    tops = {name.split("/")[0] for name in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"voiceadapt"}, tops
    assert "voiceadapt/assets/default.safetensors" in zipfile.ZipFile(wheel).namelist()


def test_routes_never_import_each_other():
    """Shared route logic lives below the routes (server/crud.py, server/responses.py)."""
    offenders = {f"{path.name}: {name}" for path in (ROOT / "server" / "routes").glob("*.py")
                 for name in imported_modules(path) if name.startswith("server.routes")}
    assert not offenders, sorted(offenders)
