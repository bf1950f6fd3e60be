"""Plugins the way users get them: pip-installed distributions in a fresh virtualenv.

A new venv receives the core from this checkout, the example plugin
``examples/pouch-hello``, and two plugins written here: one whose module raises
at import and one that does not apply on this host. A script run by that venv's
Python then reports what the kernel discovered, what ``[plugins] disable`` in
pouchd.toml does, and whether an engine still starts beside the broken plugin;
last, the example's own tests run there against the installed core.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = Path("examples") / "pouch-hello"

# What a build needs of the checkout; caches and earlier builds stay behind.
_IGNORE = shutil.ignore_patterns(
    ".git", "__pycache__", "*.egg-info", "build", "dist", ".venv", "venv", ".*_cache", ".hypothesis"
)

_BROKEN = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "pouch-broken"
        version = "0.0.1"
        dependencies = ["pouch-core>=0.1,<0.2"]

        [project.entry-points."pouch.plugins"]
        broken = "pouch_broken.plugin"

        [tool.setuptools]
        packages = ["pouch_broken"]
    """,
    "pouch_broken/__init__.py": "",
    "pouch_broken/plugin.py": """
        raise RuntimeError("boom at import")
    """,
}

_SKIPPING = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "pouch-frobnicator"
        version = "0.0.2"
        dependencies = ["pouch-core>=0.1,<0.2"]

        [project.entry-points."pouch.plugins"]
        frobnicator = "pouch_frobnicator.plugin"

        [tool.setuptools]
        packages = ["pouch_frobnicator"]
    """,
    "pouch_frobnicator/__init__.py": "",
    # The usual shape of a host check: in the registration hook, not at import.
    "pouch_frobnicator/plugin.py": """
        import os

        import pouch


        @pouch.hookimpl
        def pouch_add_runtimes(config):
            if not os.path.exists("/dev/frobnicator"):
                raise pouch.PluginSkip("needs /dev/frobnicator")
            return []
    """,
}

# Runs inside the new venv. argv[1] is a scratch directory.
_SCRIPT = """
import io
import json
import sys
import tarfile
from pathlib import Path

import anyio
import msgspec

import pouch
from pouch.config import EngineConfig, load_config
from pouch.kernel import Kernel

scratch = Path(sys.argv[1])
report = {"pouch_file": pouch.__file__}


def statuses(config):
    kernel = Kernel(config)
    kernel.load()
    return {p.name: msgspec.to_builtins(p) for p in kernel.plugins()}


# First, before anything could have imported pouch_hello: disabled in pouchd.toml.
toml = scratch / "pouchd.toml"
toml.write_text('[plugins]\\ndisable = ["hello"]\\n')
config = msgspec.structs.replace(
    load_config(toml), root=scratch / "d-root", run_root=scratch / "d-run"
)
report["disable_config"] = msgspec.to_builtins(config.plugins)
report["disabled"] = statuses(config)
report["hello_imported_while_disabled"] = "pouch_hello.plugin" in sys.modules

report["default"] = statuses(EngineConfig(root=scratch / "k-root", run_root=scratch / "k-run"))


def rootfs_tar(path):
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("etc/hostname")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"pouch"))
    return path


async def engine_report():
    from pouch.engine import Engine
    from pouch.oci import Spec
    from pouch.testing.process_runtime import ProcessRuntimePlugin

    config = EngineConfig(
        root=scratch / "e-root",
        run_root=scratch / "e-run",
        default_runtime="process",
        default_network="none",
    )
    plugins = [("process", ProcessRuntimePlugin(config))]
    async with Engine(config, plugins=plugins) as engine:
        await anyio.to_thread.run_sync(
            engine.images.store.import_rootfs, rootfs_tar(scratch / "rootfs.tar"), "busybox:latest"
        )
        container = await engine.create(pouch.ContainerConfig(image="busybox", cmd=["true"]))
        spec = msgspec.json.decode(container.spec, type=Spec)
        return {
            "started": True,
            "plugins": {p.name: p.state for p in engine.plugins()},
            "annotations": spec.annotations,
            "env": spec.process.env if spec.process else [],
        }


try:
    report["engine"] = anyio.run(engine_report)
except Exception:
    import traceback

    report["engine"] = {"started": False, "error": traceback.format_exc()}
print(json.dumps(report))
"""


def _write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def _clean_env() -> dict[str, str]:
    # The venv must import only what pip put into it, never this checkout.
    drop = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _run(args: list[str | Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def venv_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the core, pouch-hello, a broken and a skipping plugin installed."""
    base = tmp_path_factory.mktemp("plugin-install")
    created = _run([sys.executable, "-m", "venv", base / "venv"], cwd=base)
    assert created.returncode == 0, created.stderr
    python = base / "venv" / "bin" / "python"

    # pip's own cache (shared with every other install on this machine) is left on.
    pip: list[str | Path] = [python, "-m", "pip", "install", "--quiet"]
    # The build backend every distribution here names, installed once: building
    # the four without isolation halves the time, and installs the same files.
    backend = _run([*pip, "setuptools>=68"], cwd=base)
    if backend.returncode != 0:
        pytest.skip(f"pip cannot reach a package index: {backend.stderr.strip()[-300:]}")

    # A snapshot of the checkout, so the build leaves nothing in the work tree.
    source = base / "source"
    shutil.copytree(REPO, source, ignore=_IGNORE)
    broken = _write_tree(base / "pouch-broken", _BROKEN)
    skipping = _write_tree(base / "pouch-frobnicator", _SKIPPING)
    # pouch-hello with its [test] extra: its own tests run in this venv below.
    example = f"{source / EXAMPLE}[test]"
    installed = _run([*pip, "--no-build-isolation", source, example, broken, skipping], cwd=base)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


@pytest.fixture(scope="module")
def report(venv_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    scratch = tmp_path_factory.mktemp("plugin-run")
    script = scratch / "report.py"
    script.write_text(_SCRIPT)
    done = _run([venv_python, script, scratch], cwd=scratch)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_installed_core_is_used(report: dict[str, Any], venv_python: Path) -> None:
    assert Path(report["pouch_file"]).is_relative_to(venv_python.parent.parent)


def test_an_installed_plugin_loads_with_its_version(report: dict[str, Any]) -> None:
    hello = report["default"]["hello"]
    assert hello["state"] == "loaded"
    assert hello.get("version") == "0.1.0", hello
    assert hello["module"] == "pouch_hello.plugin"


def test_a_plugin_that_raises_at_import_is_reported_failed(report: dict[str, Any]) -> None:
    broken = report["default"]["broken"]
    assert broken["state"] == "failed"
    assert "boom at import" in broken["reason"]
    assert "RuntimeError" in broken["reason"]


def test_a_plugin_that_does_not_apply_is_skipped(report: dict[str, Any]) -> None:
    skipping = report["default"]["frobnicator"]
    assert skipping["state"] == "skipped"
    assert skipping["reason"] == "needs /dev/frobnicator"


def test_builtins_load_beside_the_installed_plugins(report: dict[str, Any]) -> None:
    builtins = {name: s for name, s in report["default"].items() if s.get("builtin")}
    assert builtins, "no built-in plugin was listed"
    assert all(s["state"] == "loaded" for s in builtins.values()), builtins


def test_disable_in_pouchd_toml_keeps_the_module_unimported(report: dict[str, Any]) -> None:
    assert report["disable_config"]["disable"] == ["hello"]
    assert report["disabled"]["hello"]["state"] == "disabled"
    assert report["hello_imported_while_disabled"] is False
    # Disabling one plugin leaves the others as they were.
    assert report["disabled"]["broken"]["state"] == "failed"
    assert report["disabled"]["frobnicator"]["state"] == "skipped"


def test_the_engine_starts_with_a_broken_plugin_installed(report: dict[str, Any]) -> None:
    engine = report["engine"]
    assert engine["started"] is True, engine.get("error")
    assert engine["plugins"]["broken"] == "failed"
    assert engine["plugins"]["process"] == "loaded"


def test_an_installed_plugins_create_hook_runs(report: dict[str, Any]) -> None:
    engine = report["engine"]
    assert engine["started"] is True, engine.get("error")
    assert engine["annotations"]["io.pouch.hello/greeting"].startswith("hello, ")
    assert "HELLO_PLUGIN=1" in engine["env"]


def test_the_examples_own_tests_pass_against_the_installed_core(
    venv_python: Path, tmp_path: Path
) -> None:
    # What the example's README tells its readers to do; pouch.testing's fixtures
    # come from the installed core's pytest11 entry point.
    tests = shutil.copytree(REPO / EXAMPLE / "tests", tmp_path / "tests")
    pytest_bin = venv_python.parent / "pytest"
    done = _run([pytest_bin, "-q", "-p", "no:cacheprovider", tests], cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
