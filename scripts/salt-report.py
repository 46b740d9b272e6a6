#!/usr/bin/env python
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write the fleet reports from the JSON output of a Salt run of netstat.audit.

    salt '*' netstat.audit --out json --static > returns.json
    salt-key --list accepted --out json > minions.json      # optional: who was targeted
    scripts/salt-report.py --dest reports [--minions minions.json] [--compare-with old/report.json] returns.json

Reads one JSON document (--static) or one per minion (plain --out json); "-" is stdin. Every
minion is in the reports: those whose return says "Minion did not return" and those listed in
--minions (salt-key's JSON, a JSON list, or one id a line) with no return at all are unreachable.
Writes report.json, junit.xml, report.md, report.html and report.sarif as the Ansible report
callback does; exits 0 when the fleet complies, 1 on drift, 3 when incomplete, 4 when a minion
could not be audited, 2 on bad input. On the master, the netstat.report runner does the same
in one step (salt-run netstat.report).
"""

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def _import():
    try:
        from ansible_collections.netaudit.netstat.plugins.plugin_utils import _fleet, _report, _salt_returns  # noqa: F401
    except ImportError:
        sys.path.insert(0, os.path.join(REPO, ".venv", "collections"))
    from ansible_collections.netaudit.netstat.plugins.plugin_utils import _fleet, _report, _salt_returns

    return _fleet, _report, _salt_returns


def read_minions(path):
    """Minion ids from salt-key's JSON ({"minions": [...]}), a JSON list, or one id a line."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = json.loads(text)
    except ValueError:
        return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if isinstance(data, dict):
        data = data.get("minions", [])
    if not isinstance(data, list):
        raise ValueError("expected salt-key's JSON, a JSON list or one minion id a line")
    return [str(m) for m in data]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n", maxsplit=1)[0])
    ap.add_argument("returns", help="Salt's JSON output of netstat.audit ('-': stdin)")
    ap.add_argument("--dest", required=True, help="directory of the reports")
    ap.add_argument("--minions", help="the targeted minions (salt-key --out json, a JSON list, or one a line)")
    ap.add_argument("--compare-with", help="a previous report.json (default: the last report in --dest)")
    ap.add_argument("--junit-fail-on", default="error", choices=["error", "warning", "info"])
    args = ap.parse_args(argv)
    fleet, report, salt_returns = _import()
    try:
        if args.returns == "-":
            text, source = sys.stdin.read(), "<stdin>"
        else:
            with open(args.returns, encoding="utf-8") as f:
                text, source = f.read(), args.returns
        expected = read_minions(args.minions) if args.minions else None
        model = salt_returns.build(salt_returns.parse_output(text, source), expected=expected)
        paths, warnings = fleet.publish(model, args.dest, fail_on=args.junit_fail_on, compare_with=args.compare_with)
    except OSError as exc:
        print("salt-report: %s: %s" % (exc.filename or args.returns, exc.strerror or exc), file=sys.stderr)
        return 2
    except (ValueError, report.ReportError) as exc:
        print("salt-report: %s" % exc, file=sys.stderr)
        return 2
    for warning in warnings:
        print("salt-report: warning: %s" % warning, file=sys.stderr)
    s = model["summary"]
    print("salt-report: fleet %s (%d minions: %d compliant, %d drifted, %d incomplete, %d failed, %d unreachable); "
          "reports in %s: %s" % (model["verdict"], s["hosts"], s["compliant"], s["drift"], s["incomplete"], s["failed"],
                                 s["unreachable"], args.dest, ", ".join(sorted(os.path.basename(p) for p in paths.values()))))
    return fleet.exit_code(model)


if __name__ == "__main__":
    sys.exit(main())
