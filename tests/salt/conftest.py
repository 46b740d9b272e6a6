# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from netns_helpers import Netns, netns_usable  # noqa: E402
from salt_helpers import LocalMinion, salt_usable  # noqa: E402


def _require(check):
    ok, why = check()
    if not ok:
        if os.environ.get("CI") == "true" or os.environ.get("NETAUDIT_REQUIRE_SALT") == "1":
            pytest.fail("the Salt tests need this in CI: %s" % why)
        pytest.skip(why)


@pytest.fixture
def netns():
    _require(netns_usable)
    ns = Netns()
    try:
        yield ns
    finally:
        ns.delete()


@pytest.fixture(scope="module")
def scenario_ns():
    _require(netns_usable)
    ns = Netns()
    try:
        info = ns.start_scenario()
        yield ns, info
    finally:
        ns.delete()


@pytest.fixture(scope="session")
def minion(tmp_path_factory):
    """A masterless minion with the collection's salt/ synced (saltutil.sync_all), once a session."""
    _require(salt_usable)
    m = LocalMinion(str(tmp_path_factory.mktemp("salt-local")))
    m.sync()
    return m
