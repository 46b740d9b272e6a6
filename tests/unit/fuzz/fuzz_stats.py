# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Counts of the inputs the property-based and fuzz tests tried, printed at the end of the run."""

import collections

COUNTS = collections.Counter()
FAILURES = collections.Counter()
NOTES = []


def count(name, n=1):
    COUNTS[name] += n


def fail(name, n=1):
    FAILURES[name] += n
