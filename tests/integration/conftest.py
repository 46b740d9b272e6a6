# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import netns_fixtures  # noqa: E402

netns = netns_fixtures.netns
scenario_ns = netns_fixtures.scenario_ns
