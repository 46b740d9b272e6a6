# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Console text of an audit result: the verdict in a line, then a line per finding.

This is a private plugin_utils file of netaudit.netstat; its API may change at any time.
Everything that comes from a host (process names, paths) may hold control characters: they are
shown as \\xNN (newlines too: one finding, one line), as in the reports, so nothing a host
writes reaches a terminal raw.
"""

from __future__ import annotations

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _report

MAX_LINE = 400

_HEADLINE = {
    "compliant": "compliant",
    "drift": "DRIFT",
    "incomplete": "INCOMPLETE",
}


def console_text(value, limit=MAX_LINE):
    """One line of text, safe for a terminal: control characters escaped and newlines too, as
    the reports do (_report.clean), cut at `limit` (0: no limit) with a visible marker."""
    return _report.clean(value, limit or None)


def headline(host, fail_on="error"):
    """`DRIFT: 2 finding(s) at or above error (1 incomplete-facts); 0 waived` and the like."""
    verdict = host.get("verdict") or ("compliant" if host.get("compliant") else "drift")
    counted = _policy.counted(host.get("findings") or [], fail_on)
    waived = host.get("waived") or 0
    policies = ", ".join(console_text(p, 80) for p in host.get("policies") or []) or "inline policy"
    threshold = "error" if fail_on in (None, "never") else fail_on
    if verdict == "compliant":
        text = "compliant with %s: no finding at or above %s" % (policies, threshold)
        other = sum((host.get("counts") or {}).values())
        if other:
            text += " (%d below it)" % other
    else:
        drift = [f for f in counted if f.get("rule") != "incomplete-facts"]
        incomplete = len(counted) - len(drift)
        parts = []
        if drift:
            parts.append("%d drift finding(s)" % len(drift))
        if incomplete:
            parts.append("%d socket(s) or part(s) that could not be seen (incomplete-facts)" % incomplete)
        text = "%s against %s: %s at or above %s" % (
            _HEADLINE.get(verdict, verdict.upper()),
            policies,
            " and ".join(parts) or "findings",
            threshold,
        )
        if fail_on == "never":
            text += " (fail_on: never, not failing)"
    if waived:
        text += "; %d waived" % waived
    return text


def finding_line(f):
    return console_text(
        "  %s %s %s: %s" % (f.get("severity"), f.get("rule"), f.get("subject"), f.get("message")),
    )


def console_lines(host, fail_on="error", limit=10):
    """The verdict line, then (unless compliant) a line per counted finding, at most `limit`,
    and a last line counting the rest."""
    lines = [headline(host, fail_on)]
    if host.get("verdict", "compliant") == "compliant" and host.get("compliant", True):
        return lines
    counted = _policy.counted(host.get("findings") or [], fail_on)
    for f in counted[:limit]:
        lines.append(finding_line(f))
    if len(counted) > limit:
        lines.append("  ... and %d more (the registered result has every finding; -v shows it)" % (len(counted) - limit))
    return lines
