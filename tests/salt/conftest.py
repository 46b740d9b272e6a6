# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import netns_fixtures  # noqa: E402
from salt_helpers import LocalMinion, require_salt  # noqa: E402

netns = netns_fixtures.netns
scenario_ns = netns_fixtures.scenario_ns


@pytest.fixture(scope="session")
def minion(tmp_path_factory):
    """A masterless minion with the collection's salt/ synced (saltutil.sync_all), once a session."""
    require_salt()
    m = LocalMinion(str(tmp_path_factory.mktemp("salt-local")))
    m.sync()
    return m
