# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Print how many inputs each property-based and fuzz test tried (part of the test output)."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# hypothesis keeps caches in a storage directory (.hypothesis in the current one by default):
# a temporary one, removed at the end, leaves nothing behind.
_STORAGE = tempfile.mkdtemp(prefix="netaudit-hypothesis-")
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", _STORAGE)

import fuzz_stats  # noqa: E402


def pytest_unconfigure(config):
    shutil.rmtree(_STORAGE, ignore_errors=True)


def pytest_terminal_summary(terminalreporter):
    if not fuzz_stats.COUNTS:
        return
    terminalreporter.section("fuzz and property-based inputs")
    total = 0
    for name, n in sorted(fuzz_stats.COUNTS.items()):
        total += n
        terminalreporter.write_line("%8d  %s (%d unexpected exceptions)" % (n, name, fuzz_stats.FAILURES[name]))
    for note in fuzz_stats.NOTES:
        terminalreporter.write_line(note)
    terminalreporter.write_line("fuzz: %d inputs, %d unexpected exceptions" % (total, sum(fuzz_stats.FAILURES.values())))
