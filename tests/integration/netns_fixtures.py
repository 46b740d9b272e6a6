# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The namespace fixtures of the integration and Salt tests (their conftest.py import them):
`netns`, a fresh namespace a test, and `scenario_ns`, one with the known socket scenario running,
shared by a test module. Without the right to make namespaces a test fails in CI and is skipped
elsewhere."""
import os

import pytest

from netns_helpers import Netns, netns_usable

_USABLE = None


def require_netns():
    global _USABLE
    if _USABLE is None:
        _USABLE = netns_usable()
    ok, why = _USABLE
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail("integration tests need network namespaces in CI: %s" % why)
        pytest.skip(why)


@pytest.fixture
def netns():
    require_netns()
    ns = Netns()
    try:
        yield ns
    finally:
        ns.delete()


@pytest.fixture(scope="module")
def scenario_ns():
    """One namespace with the known socket scenario running, shared by a test module."""
    require_netns()
    ns = Netns()
    try:
        info = ns.start_scenario()
        yield ns, info
    finally:
        ns.delete()
