"""The plugin kernel: registration, failures, skips, selection, dispatch."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pouch.builtins.networks import NullNetwork
from pouch.config import EngineConfig, PluginSelection
from pouch.errors import InvalidArgument, NoSuchRuntime, PluginError, PluginSkip
from pouch.kernel import Kernel
from pouch.markers import hookimpl


def kernel(tmp_path: Path, **options: Any) -> Kernel:
    config = EngineConfig(
        root=tmp_path / "root", run_root=tmp_path / "run", discover_plugins=False, **options
    )
    k = Kernel(config)
    k.load()
    return k


class FakeRuntime:
    """Only what registration looks at: a name."""

    def __init__(self, name: str) -> None:
        self.name = name


class Provides:
    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def pouch_add_runtimes(self) -> list[Any]:
        return [FakeRuntime(n) for n in self.names]


def status(k: Kernel, name: str) -> tuple[str, str]:
    found = {p.name: p for p in k.plugins()}[name]
    return found.state, found.reason


def test_builtins_load_as_plugins(tmp_path: Path) -> None:
    k = kernel(tmp_path)
    assert status(k, "networks") == ("loaded", "")
    assert status(k, "local-volumes") == ("loaded", "")
    assert k.networks.names() == ["host", "none"]
    assert k.volumes.names() == ["local"]


def test_a_plugin_raising_in_registration_is_failed_and_contributes_nothing(
    tmp_path: Path,
) -> None:
    class Broken:
        @hookimpl
        def pouch_add_network_drivers(self) -> list[Any]:
            return [NullNetwork("half")]

        @hookimpl
        def pouch_add_runtimes(self) -> list[Any]:
            raise RuntimeError("cannot talk to the daemon")

    k = kernel(tmp_path)
    result = k.register(Broken(), "broken")
    assert result.state == "failed"
    assert "RuntimeError: cannot talk to the daemon" in result.reason
    assert "half" not in k.networks  # its other drivers were withdrawn too
    assert not k.pm.has_plugin("broken")


def test_a_plugin_that_does_not_apply_is_skipped_with_its_reason(tmp_path: Path) -> None:
    class NeedsKvm:
        @hookimpl
        def pouch_add_runtimes(self) -> list[Any]:
            raise PluginSkip("/dev/kvm is missing")

    k = kernel(tmp_path)
    assert k.register(NeedsKvm(), "kata").state == "skipped"
    assert status(k, "kata") == ("skipped", "/dev/kvm is missing")


def test_unknown_runtime_lists_the_available_ones(tmp_path: Path) -> None:
    k = kernel(tmp_path)
    k.register(Provides("runc", "crun"), "oci")
    with pytest.raises(NoSuchRuntime) as caught:
        k.runtimes.get("kata2")
    assert str(caught.value) == "no such runtime 'kata2' (available: crun, runc)"
    assert caught.value.status == 400


def test_two_plugins_cannot_claim_one_driver_name(tmp_path: Path) -> None:
    k = kernel(tmp_path)
    k.register(Provides("runc"), "first")
    second = k.register(Provides("runc"), "second")
    assert second.state == "failed"
    assert "already provided by plugin 'first'" in second.reason
    assert k.runtimes.plugin_of("runc") == "first"


def test_disable_list_is_honoured_but_essential_plugins_stay(tmp_path: Path) -> None:
    k = kernel(tmp_path, plugins=PluginSelection(disable=["local-volumes", "networks"]))
    assert status(k, "local-volumes")[0] == "disabled"
    assert k.volumes.names() == []
    assert status(k, "networks")[0] == "loaded"


def test_enable_list_selects_only_the_named(tmp_path: Path) -> None:
    k = kernel(tmp_path, plugins=PluginSelection(enable=["networks"]))
    assert status(k, "local-volumes")[0] == "disabled"


def test_lifecycle_hook_errors_name_the_plugin(tmp_path: Path) -> None:
    class Faulty:
        @hookimpl
        def pouch_container_removed(self, container: Any) -> None:
            raise KeyError("lost")

    class Refuses:
        @hookimpl
        def pouch_container_create(self, container: Any, spec: Any) -> None:
            raise InvalidArgument("quota too small", field="labels")

    k = kernel(tmp_path)
    k.register(Faulty(), "faulty")
    k.register(Refuses(), "refuses")
    with pytest.raises(PluginError, match="plugin 'faulty': pouch_container_removed: KeyError"):
        k.call("pouch_container_removed", container=None)
    config = SimpleNamespace(init=False, rich=False, labels={})
    stub = SimpleNamespace(id="c" * 64, runtime="runc", config=config)
    with pytest.raises(InvalidArgument, match="labels: quota too small"):
        k.call("pouch_container_create", container=stub, spec=None)


def test_every_hook_call_is_traced(tmp_path: Path, finished_spans: Callable[[], list[Any]]) -> None:

    class Container:
        id = "f" * 64
        runtime = "runc"
        directory = ""

    class Watcher:
        @hookimpl
        def pouch_container_started(self, container: Any) -> None:
            self.seen = container.id

    k = kernel(tmp_path)
    k.register(Watcher(), "watcher")
    k.call("pouch_container_started", container=Container())
    spans = [s for s in finished_spans() if s.name == "pouch.hook.pouch_container_started"]
    assert len(spans) == 1
    assert spans[0].attributes is not None
    assert spans[0].attributes["container.id"] == "f" * 64
    assert spans[0].attributes["container.runtime.name"] == "runc"


def test_a_late_plugin_calls_only_its_own_registration_hooks(tmp_path: Path) -> None:
    k = kernel(tmp_path)
    assert k.register(Provides("first"), "one").state == "loaded"
    # Were the first plugin's hook called again, "first" would clash with itself.
    second = k.register(Provides("second"), "two")
    assert second.state == "loaded" and second.provides == ["runtime:second"]
    assert k.runtimes.plugin_of("first") == "one" and k.runtimes.plugin_of("second") == "two"


def test_a_registration_hook_returning_a_nameless_object_fails_its_plugin(
    tmp_path: Path,
) -> None:
    class Nameless:
        @hookimpl
        def pouch_add_runtimes(self) -> list[Any]:
            return [object()]

    k = kernel(tmp_path)
    state, reason = status(k, k.register(Nameless(), "nameless").name)
    assert state == "failed" and "has no name" in reason
