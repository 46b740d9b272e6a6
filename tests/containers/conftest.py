# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The container tests need a real Docker daemon: in CI a missing one fails, it never skips."""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import docker_helpers as dh  # noqa: E402  pylint: disable=wrong-import-position


def _fail_or_skip(why):
    if os.environ.get("CI") == "true" or os.environ.get("NETAUDIT_REQUIRE_DOCKER") == "1":
        pytest.fail("the container tests need Docker: %s" % why)
    pytest.skip(why)


@pytest.fixture(scope="session")
def docker_daemon():
    """A running daemon with the test images; natest-* containers removed at the end, and the
    daemon stopped if this session started it."""
    if os.geteuid() != 0:
        _fail_or_skip("needs root (dockerd, nsenter)")
    started = False
    if not dh.docker_up():
        res = subprocess.run(["bash", dh.DOCKER_SH, "start"], capture_output=True, text=True, check=False, timeout=600)
        if res.returncode != 0:
            _fail_or_skip("scripts/docker.sh start failed: %s %s" % (res.stdout[-1500:], res.stderr[-1500:]))
        started = True
    res = subprocess.run(["bash", dh.DOCKER_SH, "images"], capture_output=True, text=True, check=False, timeout=300)
    if res.returncode != 0:
        _fail_or_skip("scripts/docker.sh images failed: %s" % res.stderr[-1500:])
    dh.cleanup()
    try:
        yield started
    finally:
        dh.cleanup()
        if started and os.environ.get("NETAUDIT_KEEP_DOCKER") != "1":
            subprocess.run(["bash", dh.DOCKER_SH, "stop"], capture_output=True, check=False, timeout=120)


@pytest.fixture
def containers(docker_daemon):
    """Containers the test starts are removed after it, whatever happened; none may be left."""
    yield dh
    dh.cleanup()
    assert not dh.leftovers()
