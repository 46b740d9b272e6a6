# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netns_helpers import Netns, netns_usable  # noqa: E402

_USABLE = None


def _require_netns():
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
    _require_netns()
    ns = Netns()
    try:
        yield ns
    finally:
        ns.delete()


@pytest.fixture(scope="module")
def scenario_ns():
    """One namespace with the known socket scenario running, shared by a test module."""
    _require_netns()
    ns = Netns()
    try:
        info = ns.start_scenario()
        yield ns, info
    finally:
        ns.delete()
