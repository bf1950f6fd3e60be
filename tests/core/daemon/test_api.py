"""The API as a client sees it: versions, headers, errors, bad input, volumes, networks, events.

One pouchd (process runtime) serves the whole module; nothing here runs a container.
"""

from __future__ import annotations

import json
import time

import pytest

from pouch import cgroups
from pouch.testing.daemon import PouchDaemon

STRICT = {"Content-Type": "application/json", "User-Agent": "pouch-tests/1"}
DOCKER = {"Content-Type": "application/json", "User-Agent": "Docker-Client/20.10.24 (linux)"}


def post(api: PouchDaemon, path: str, body: object, headers: dict[str, str] = STRICT, **query: str):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, _, raw = api.request("POST", path, data, headers=headers, query=query or None)
    return status, json.loads(raw) if raw.strip() else None


def test_ping_names_the_api_version(api: PouchDaemon) -> None:
    status, headers, body = api.request("GET", "/_ping")
    assert (status, body) == (200, b"OK")
    assert headers["api-version"] == "1.41" and headers["ostype"] == "linux"
    assert headers["server"].startswith("pouchd/")
    status, headers, body = api.request("HEAD", "/_ping")
    assert status == 200 and body == b"" and headers["api-version"] == "1.41"


@pytest.mark.parametrize("prefix", ["", "/v1.24", "/v1.30", "/v1.41"])
def test_versions_from_1_24_to_1_41_are_served(api: PouchDaemon, prefix: str) -> None:
    version = api.json("GET", f"{prefix}/version")
    assert version["ApiVersion"] == "1.41" and version["MinAPIVersion"] == "1.24"


@pytest.mark.parametrize(("prefix", "word"), [("/v1.50", "too new"), ("/v1.12", "too old")])
def test_versions_outside_the_range_are_refused(api: PouchDaemon, prefix: str, word: str) -> None:
    status, headers, body = api.request("GET", f"{prefix}/version")
    assert status == 400 and word in json.loads(body)["message"]
    assert headers["api-version"] == "1.41"


def test_unknown_routes_and_methods(api: PouchDaemon) -> None:
    status, _, body = api.request("GET", "/v1.41/nothing/here")
    assert status == 404 and json.loads(body) == {"message": "page not found"}
    status, _, _ = api.request("PUT", "/containers/json")
    assert status == 405


def test_info_lists_plugins_and_runtimes(api: PouchDaemon) -> None:
    info = api.json("GET", "/info")
    assert info["DefaultRuntime"] == "process" and "process" in info["Runtimes"]
    plugins = {p["name"]: p for p in info["PouchPlugins"]}
    assert plugins["process"]["state"] == "loaded"
    assert plugins["networks"]["builtin"] is True
    assert "runtime:process" in plugins["process"]["provides"]
    # The host's cgroups as they are, and the manager in force.
    assert (info["CgroupDriver"], info["CgroupVersion"]) == ("cgroupfs", str(cgroups.version()))
    assert info["PouchCgroupLayout"] == cgroups.layout()


def test_malformed_json_is_a_400(api: PouchDaemon) -> None:
    status, body = post(api, "/containers/create", b'{"Image": "busybox",')
    assert status == 400 and "malformed JSON" in body["message"]
    status, body = post(api, "/containers/create", b"")
    assert status == 400 and "JSON body" in body["message"]


def test_wrong_types_name_the_field(api: PouchDaemon) -> None:
    status, body = post(api, "/containers/create", {"Image": "b", "HostConfig": {"Memory": "x"}})
    assert status == 400 and "$.HostConfig.Memory" in body["message"]
    status, body = post(api, "/containers/create", {"Image": ["b"]})
    assert status == 400 and "$.Image" in body["message"]


def test_unknown_fields_are_refused_except_for_docker_clients(api: PouchDaemon) -> None:
    body = {"Image": "busybox:nope", "HostConfig": {"Memroy": 1}}
    status, answer = post(api, "/containers/create", body)
    assert status == 400 and "$.HostConfig.Memroy" in answer["message"]
    # docker's own clients may send fields of newer API versions.
    status, answer = post(api, "/containers/create", body, headers=DOCKER)
    assert status == 404 and "No such image" in answer["message"]


def test_huge_bodies_are_refused(api: PouchDaemon) -> None:
    huge = b'{"Image": "' + b"x" * (17 * 1024 * 1024) + b'"}'
    status, body = post(api, "/containers/create", huge)
    assert status == 413 and "larger than" in body["message"]
    assert api.answers()  # and the daemon is fine


def test_invalid_names_and_references(api: PouchDaemon) -> None:
    status, body = post(api, "/containers/create", {"Image": "busybox"}, name="bad name!")
    assert status == 400 and "name" in body["message"]
    status, body = post(api, "/containers/create", {"Image": "Not/Valid:Ref"})
    assert status == 400 and "reference" in body["message"]
    status, body = post(api, "/images/busybox/tag", None, repo="UPPER", tag="x")
    assert status in (400, 404)
    status, body = post(api, "/containers/create", {"Image": "busybox:nope"})
    assert status == 404


def test_bad_query_parameters(api: PouchDaemon) -> None:
    status, _, body = api.request("GET", "/containers/json", query={"filters": "{nope"})
    assert status == 400 and "filters" in json.loads(body)["message"]
    status, _, body = api.request("GET", "/containers/json", query={"filters": '{"colour":["x"]}'})
    assert status == 400 and "colour" in json.loads(body)["message"]
    status, _, body = api.request("GET", "/containers/json", query={"limit": "many"})
    assert status == 400 and "limit" in json.loads(body)["message"]


def test_missing_objects_are_404(api: PouchDaemon) -> None:
    for method, path in [
        ("GET", "/containers/nothing/json"),
        ("POST", "/containers/nothing/start"),
        ("DELETE", "/containers/nothing"),
        ("GET", "/exec/nothing/json"),
        ("GET", "/images/nothing:1/json"),
        ("GET", "/volumes/nothing"),
        ("GET", "/networks/nothing"),
    ]:
        status, _, body = api.request(method, path)
        assert status == 404, (method, path, body)
        assert "no such" in json.loads(body)["message"].lower()


def test_volumes(api: PouchDaemon) -> None:
    created = api.json("POST", "/volumes/create", {"Name": "data", "Labels": {"k": "v"}})
    assert created["Driver"] == "local" and created["Mountpoint"].endswith("/_data")
    assert api.json("GET", "/volumes/data")["Labels"] == {"k": "v"}
    listed = api.json("GET", "/volumes", query={"filters": '{"label":["k=v"]}'})
    assert [v["Name"] for v in listed["Volumes"]] == ["data"]
    status, body = post(api, "/volumes/create", {"Name": "bad/name"})
    assert status == 400 and "name" in body["message"]
    status, body = post(api, "/volumes/create", {"Name": "x", "DriverOpts": {"o": "1"}})
    assert status == 400
    assert api.json("POST", "/volumes/prune")["VolumesDeleted"] == ["data"]
    status, _, _ = api.request("DELETE", "/volumes/data")
    assert status == 404


def test_networks(api: PouchDaemon) -> None:
    names = {n["Name"] for n in api.json("GET", "/networks")}
    assert {"host", "none"} <= names
    assert api.json("GET", "/networks/none")["Driver"] == "none"
    status, body = post(api, "/networks/create", {"Name": "mine", "Driver": "host"})
    assert status == 400 and "only one instance of the host network" in body["message"]
    status, body = post(api, "/networks/create", {"Name": "mine", "Driver": "warp"})
    assert status == 400 and "no such network driver" in body["message"]
    status, body = post(api, "/networks/create", {"Name": "mine"})  # docker's default: bridge
    assert status == 400 and "'bridge'" in body["message"]
    status, body = post(api, "/networks/create", {"Name": "none", "Driver": "fake"})
    assert status == 409 and "pre-defined" in body["message"]
    status, _, body = api.request("DELETE", "/networks/host")
    assert status == 403 and "pre-defined" in json.loads(body)["message"]


def test_events_replay_and_end_at_until(api: PouchDaemon) -> None:
    since = time.time() - 1
    api.json("POST", "/volumes/create", {"Name": "evented"})
    api.request("DELETE", "/volumes/evented")
    status, _, body = api.request(
        "GET",
        "/events",
        query={"since": f"{since:.3f}", "until": f"{time.time() + 0.5:.3f}",
               "filters": '{"type":["volume"],"volume":["evented"]}'},
        timeout=10,
    )  # fmt: skip
    assert status == 200
    events = [json.loads(line) for line in body.splitlines()]
    assert [(e["Type"], e["Action"], e["Actor"]["ID"]) for e in events] == [
        ("volume", "create", "evented"),
        ("volume", "destroy", "evented"),
    ]
    # An ``until`` already past (``--until 0s``) replays, then ends at once.
    status, _, body = api.request(
        "GET",
        "/events",
        query={"since": f"{since:.3f}", "until": f"{time.time():.3f}",
               "filters": '{"type":["volume"],"volume":["evented"]}'},
        timeout=10,
    )  # fmt: skip
    assert status == 200 and len(body.splitlines()) == 2
    status, _, body = api.request("GET", "/events", query={"filters": '{"colour":["x"]}'})
    assert status == 400
