"""``pip install .`` gives one package, ``agentrl``, with real files for every subpackage."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ["envs", "agents", "trainer", "memory", "sandboxes", "configs", "cli"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(ROOT), "-w", str(out)],
        check=True,
        timeout=300,
    )
    (path,) = out.glob("agentrl-*.whl")
    return path


def test_wheel_holds_only_the_agentrl_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"agentrl"}
    for sub in SUBPACKAGES:
        assert f"agentrl/{sub}/__init__.py" in names, sub
    assert "agentrl/py.typed" in names
    assert "agentrl/configs/env/babyai.yaml" in names and "agentrl/configs/play.yaml" in names
    assert "agentrl/envs/webshop/templates/page.html" in names  # the WebShop web app's template
    assert not any("__pycache__" in n for n in names)


def test_fresh_venv_imports_every_subpackage(wheel, tmp_path):
    # Dependencies come from the running interpreter's site-packages; agentrl only from the wheel.
    venv.create(tmp_path / "venv", system_site_packages=True, with_pip=False)
    python = tmp_path / "venv" / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    code = f"""
import importlib, sys
site = {str(tmp_path / "venv")!r}
for sub in {SUBPACKAGES!r}:
    module = importlib.import_module("agentrl." + sub)
    assert module.__file__.startswith(site), (sub, module.__file__)
for bare in ("envs", "trainer", "memory", "agents", "sandboxes", "configs"):
    try:
        importlib.import_module(bare)
    except ModuleNotFoundError:
        continue
    raise SystemExit(f"bare module {{bare!r}} is importable")
import agentrl
env = agentrl.make("frozenlake")
assert env.reset(seed=0)[0]
print("ok")
"""
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
    script = tmp_path / "venv" / "bin" / "agentrl"
    assert script.exists()
    listed = subprocess.run([str(script), "envs", "--json"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert listed.returncode == 0 and "agentrl/FrozenLake-v0" in listed.stdout, listed.stderr
