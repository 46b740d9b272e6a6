# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Let test modules here import shared fixtures from each other (test_gather uses test_procfs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
