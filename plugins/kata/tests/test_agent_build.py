"""Building the guest agent: go's own tests pass, the binary is static, and a
host without go gets an error naming the package to install."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest
from pouch_kata import _agent_build, cli

PT_INTERP = 3


def _program_header_types(elf: bytes) -> list[int]:
    assert elf[:4] == b"\x7fELF" and elf[4] == 2, "not a 64-bit ELF file"
    (phoff,) = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    return [struct.unpack_from("<I", elf, phoff + i * phentsize)[0] for i in range(phnum)]


def test_go_tests_of_the_agent_pass(go_cache: Path) -> None:
    done = subprocess.run(
        [_agent_build.go_program(), "test", "./..."],
        cwd=_agent_build.source_dir(),
        env=_agent_build.go_env(go_cache),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_agent_is_a_static_binary(agent_binary: Path) -> None:
    types = _program_header_types(agent_binary.read_bytes())
    assert PT_INTERP not in types, "the agent asks for a dynamic loader; it must run alone"
    version = subprocess.run(
        [str(agent_binary), "--version"], capture_output=True, text=True, timeout=10, check=True
    )
    assert version.stdout.startswith("pouch-agent ")


def test_without_go_the_error_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(_agent_build.AgentBuildError, match="install the Debian package golang-go"):
        _agent_build.build(tmp_path / "agent")
    assert not (tmp_path / "agent").exists()


def test_the_command_reports_a_missing_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["agent", "build", "-o", str(tmp_path / "agent")]) == 1
    assert "golang-go" in capsys.readouterr().err


def test_the_sources_ship_with_the_distribution() -> None:
    sources = _agent_build.source_dir()
    assert (sources / "go.mod").is_file()
    assert (sources / "main.go").is_file()
