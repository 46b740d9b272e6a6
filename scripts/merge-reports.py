#!/usr/bin/env python
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Merge the report.json of sliced audit runs into one fleet report (the plain command for CI).

    scripts/merge-reports.py --dest reports/fleet [--hosts-file hosts.txt] [--compare-with old/report.json] SLICE...

SLICE is a report.json or a report directory. --hosts-file lists the fleet's hosts, one per
line: those in no slice are reported as not audited. Writes report.json, junit.xml, report.md
and report.html as the report callback does; exits 0 when the fleet complies, 1 on drift, 3 when
incomplete, 4 when a host could not be audited, 2 on bad input. The same as the
netaudit.netstat.netstat_report_merge module, without Ansible.
"""

import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _import():
    try:
        from ansible_collections.netaudit.netstat.plugins.plugin_utils import _fleet, _report  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(REPO, ".venv", "collections"))
    from ansible_collections.netaudit.netstat.plugins.plugin_utils import _fleet, _report

    return _fleet, _report


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("slices", nargs="+", help="report.json files or report directories")
    ap.add_argument("--dest", required=True, help="directory of the merged reports")
    ap.add_argument("--hosts-file", help="the fleet's hosts, one per line")
    ap.add_argument("--compare-with", help="a previous fleet report.json")
    args = ap.parse_args(argv)
    fleet, report = _import()
    expected = None
    if args.hosts_file:
        try:
            with open(args.hosts_file, encoding="utf-8") as f:
                expected = [line.strip() for line in f if line.strip() and not line.startswith("#")]
        except OSError as exc:
            print("merge-reports: %s: %s" % (args.hosts_file, exc.strerror), file=sys.stderr)
            return 2
    try:
        model = fleet.merge_files(args.slices, expected_hosts=expected, compare_with=args.compare_with)
        report.write_reports(model, args.dest)
    except (fleet.MergeError, report.ReportError) as exc:
        print("merge-reports: %s" % exc, file=sys.stderr)
        return 2
    m = model["merged"]
    print("merge-reports: fleet %s: %d hosts from %d slice(s), %d reported twice, %d not audited; reports in %s" % (
        model["verdict"], model["summary"]["hosts"], len(m["slices"]), len(m["duplicates"]), len(m["not_audited"]),
        args.dest))
    return fleet.exit_code(model)


if __name__ == "__main__":
    sys.exit(main())
