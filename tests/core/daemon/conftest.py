"""A pouchd shared by a module's API tests; ``pouchd`` and ``docker_cli`` come from
``pouch.testing`` (its pytest plugin registers ``pouch.testing.daemon``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pouch.testing.daemon import PouchDaemon, import_busybox_api, running_pouchd


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PouchDaemon]:
    """One pouchd (process runtime, no images) shared by a module's API tests."""
    with running_pouchd(tmp_path_factory.mktemp("api")) as daemon:
        yield daemon


@pytest.fixture(scope="module")
def api_busybox(api: PouchDaemon, tmp_path_factory: pytest.TempPathFactory) -> str:
    from pouch.testing.images import busybox_rootfs_tar

    return import_busybox_api(api, busybox_rootfs_tar(tmp_path_factory.mktemp("img")))
