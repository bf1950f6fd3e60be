"""The OCI structs read and write config.json the way runtimes expect it."""

from __future__ import annotations

import msgspec
import pytest

from pouch.oci import (
    OCI_VERSION,
    Box,
    Hook,
    Hooks,
    ImageConfig,
    Linux,
    LinuxBlockIO,
    LinuxCapabilities,
    LinuxCPU,
    LinuxDevice,
    LinuxDeviceCgroup,
    LinuxHugepageLimit,
    LinuxIDMapping,
    LinuxIOPriority,
    LinuxMemory,
    LinuxNamespace,
    LinuxPids,
    LinuxResources,
    LinuxSeccomp,
    LinuxSyscall,
    Mount,
    Process,
    Rlimit,
    Root,
    Spec,
    User,
)


def full_spec() -> Spec:
    return Spec(
        process=Process(
            terminal=True,
            console_size=Box(height=24, width=80),
            user=User(uid=1000, gid=1000, additional_gids=[10, 20], umask=0o22),
            args=["sh", "-c", "echo hi"],
            env=["PATH=/bin"],
            cwd="/srv",
            capabilities=LinuxCapabilities(bounding=["CAP_KILL"], effective=["CAP_KILL"]),
            rlimits=[Rlimit(type="RLIMIT_NOFILE", hard=1024, soft=512)],
            no_new_privileges=True,
            oom_score_adj=100,
            apparmor_profile="pouch-default",
            io_priority=LinuxIOPriority(class_="IOPRIO_CLASS_BE", priority=4),
        ),
        root=Root(path="rootfs", readonly=True),
        hostname="box",
        mounts=[
            Mount(destination="/data", type="bind", source="/srv/data", options=["rbind", "ro"]),
            Mount(
                destination="/idmapped",
                type="bind",
                source="/x",
                uid_mappings=[LinuxIDMapping(container_id=0, host_id=100000, size=65536)],
            ),
        ],
        hooks=Hooks(create_runtime=[Hook(path="/usr/bin/hook", args=["hook"], timeout=5)]),
        annotations={"io.pouch.container.id": "abc"},
        linux=Linux(
            uid_mappings=[LinuxIDMapping(container_id=0, host_id=0, size=1)],
            sysctl={"net.ipv4.ip_forward": "1"},
            resources=LinuxResources(
                devices=[LinuxDeviceCgroup(allow=False, access="rwm")],
                memory=LinuxMemory(limit=1 << 30, swap=-1, disable_oom_killer=True, kernel_tcp=1),
                cpu=LinuxCPU(shares=512, quota=150000, period=100000, cpus="0-1"),
                pids=LinuxPids(limit=100),
                block_io=LinuxBlockIO(weight=500),
                hugepage_limits=[LinuxHugepageLimit(page_size="2MB", limit=1 << 21)],
            ),
            cgroups_path="/pouch/abc",
            namespaces=[LinuxNamespace(type="pid"), LinuxNamespace(type="network", path="/n")],
            devices=[LinuxDevice(path="/dev/fuse", type="c", major=10, minor=229, file_mode=0o666)],
            seccomp=LinuxSeccomp(
                default_action="SCMP_ACT_ERRNO",
                syscalls=[LinuxSyscall(names=["read"], action="SCMP_ACT_ALLOW")],
            ),
            masked_paths=["/proc/kcore"],
            readonly_paths=["/proc/sys"],
        ),
    )


def test_a_full_spec_round_trips_through_json() -> None:
    spec = full_spec()
    assert msgspec.json.decode(msgspec.json.encode(spec), type=Spec) == spec


@pytest.mark.parametrize(
    "name",
    [
        "ociVersion",
        "noNewPrivileges",
        "oomScoreAdj",
        "consoleSize",
        "additionalGids",
        "apparmorProfile",
        "ioPriority",
        "class",
        "cgroupsPath",
        "maskedPaths",
        "readonlyPaths",
        "uidMappings",
        "containerID",
        "hostID",
        "disableOOMKiller",
        "kernelTCP",
        "blockIO",
        "hugepageLimits",
        "pageSize",
        "fileMode",
        "createRuntime",
        "defaultAction",
    ],
)
def test_json_field_names_are_the_specs_verbatim(name: str) -> None:
    assert f'"{name}"'.encode() in msgspec.json.encode(full_spec())


def test_no_python_attribute_name_leaks_into_json() -> None:
    assert not {
        key for key in _keys(msgspec.json.decode(msgspec.json.encode(full_spec()))) if "_" in key
    }


def _keys(value: object) -> set[str]:
    """Every object key in a JSON document, except inside free-form maps."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            if key not in ("annotations", "sysctl"):
                found |= _keys(item)
    elif isinstance(value, list):
        for item in value:
            found |= _keys(item)
    return found


def test_a_minimal_spec_writes_only_the_version() -> None:
    assert msgspec.json.encode(Spec()) == f'{{"ociVersion":"{OCI_VERSION}"}}'.encode()


def test_values_equal_to_a_default_but_required_by_the_spec_are_written() -> None:
    # Omitted, these would silently mean something else to a reader.
    encoded = msgspec.json.decode(
        msgspec.json.encode(
            Linux(
                uid_mappings=[LinuxIDMapping(container_id=0, host_id=0, size=1)],
                resources=LinuxResources(devices=[LinuxDeviceCgroup(allow=False, access="rwm")]),
            )
        )
    )
    assert encoded["uidMappings"] == [{"containerID": 0, "hostID": 0, "size": 1}]
    assert encoded["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    assert msgspec.json.decode(msgspec.json.encode(User(uid=0, gid=0))) == {"uid": 0, "gid": 0}


def test_a_runtime_written_config_with_unknown_fields_is_read() -> None:
    data = b"""{
      "ociVersion": "1.3.0",
      "process": {"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["sh"],
                  "scheduler": {"policy": "SCHED_OTHER"}, "noNewPrivileges": true},
      "root": {"path": "rootfs", "readonly": true},
      "linux": {"namespaces": [{"type": "pid"}], "intelRdt": {"closID": "x"},
                "resources": {"memory": {"limit": 1048576, "checkBeforeUpdate": true}},
                "cgroupsPath": "/pouch/x"},
      "vm": {"hypervisor": {"path": "/usr/bin/qemu"}}
    }"""
    spec = msgspec.json.decode(data, type=Spec)
    assert spec.oci_version == "1.3.0"
    assert spec.process is not None and spec.process.no_new_privileges
    assert spec.root == Root(path="rootfs", readonly=True)
    assert spec.linux is not None and spec.linux.cgroups_path == "/pouch/x"
    assert spec.linux.resources is not None and spec.linux.resources.memory is not None
    assert spec.linux.resources.memory.limit == 1048576
    assert spec.linux.resources.memory.check_before_update is True


def test_a_process_without_the_required_cwd_is_rejected() -> None:
    with pytest.raises(msgspec.ValidationError, match="cwd"):
        msgspec.json.decode(b'{"user": {"uid": 0, "gid": 0}}', type=Process)


def test_an_unknown_namespace_type_is_rejected() -> None:
    with pytest.raises(msgspec.ValidationError, match="type"):
        msgspec.json.decode(b'{"type": "pidd"}', type=LinuxNamespace)


def test_image_config_reads_docker_style_json_with_nulls() -> None:
    data = b"""{
      "User": "nginx", "Env": ["PATH=/usr/bin", "NGINX_VERSION=1.25"],
      "Entrypoint": ["/docker-entrypoint.sh"], "Cmd": ["nginx", "-g", "daemon off;"],
      "WorkingDir": "", "Labels": null, "Volumes": null,
      "ExposedPorts": {"80/tcp": {}}, "StopSignal": "SIGQUIT",
      "ArgsEscaped": true, "OnBuild": null
    }"""
    config = msgspec.json.decode(data, type=ImageConfig)
    assert config.user == "nginx"
    assert config.cmd == ["nginx", "-g", "daemon off;"]
    assert config.exposed_ports == {"80/tcp": {}}
    assert config.labels is None and config.volumes is None
    assert config.stop_signal == "SIGQUIT"
    encoded = msgspec.json.encode(config)
    assert b'"ExposedPorts"' in encoded and b'"StopSignal"' in encoded
    assert msgspec.json.decode(encoded, type=ImageConfig) == config


def test_image_config_keeps_an_explicitly_empty_entrypoint_apart_from_none() -> None:
    empty = ImageConfig(entrypoint=[])
    assert msgspec.json.decode(msgspec.json.encode(empty), type=ImageConfig).entrypoint == []
    assert (
        msgspec.json.decode(msgspec.json.encode(ImageConfig()), type=ImageConfig).entrypoint is None
    )
