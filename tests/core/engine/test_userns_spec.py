"""A remapped container's spec: user namespace, mappings, and /sys when the netns is not its own."""

from __future__ import annotations

import pytest

from pouch import oci
from pouch.engine._create import _remap
from pouch.models import ContainerConfig
from pouch.oci.image import ImageConfig
from pouch.userns import IdMap

IDMAP = IdMap(uid=100000, gid=200000, size=65536)


def spec() -> oci.Spec:
    config = ContainerConfig(image="busybox", cmd=["true"])
    return oci.build_spec(config, image=ImageConfig(), container_id="c" * 64, hostname="c")


@pytest.mark.parametrize("own_netns", [True, False])
def test_user_namespace_and_mappings(own_netns: bool) -> None:
    remapped = spec()
    _remap(remapped, IDMAP, own_netns=own_netns)
    assert remapped.linux is not None
    assert "user" in [n.type for n in remapped.linux.namespaces]
    assert [(m.container_id, m.host_id, m.size) for m in remapped.linux.uid_mappings] == [
        (0, 100000, 65536)
    ]
    assert remapped.linux.gid_mappings[0].host_id == 200000
    sys = next(m for m in remapped.mounts if m.destination == "/sys")
    if own_netns:
        assert sys.type == "sysfs"
    else:  # a network's namespace belongs to the host's user namespace
        assert (sys.type, sys.source) == ("bind", "/sys") and "ro" in sys.options
