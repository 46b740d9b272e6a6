# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One host's audit, for every front end: the netstat_audit action plugin and the Salt execution
module both call audit() with facts and loaded policies and get the same host result.

This is a private plugin_utils file of netaudit.netstat; its API may change at any time.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _console
from ansible_collections.netaudit.netstat.plugins.plugin_utils._report import facts_summary

FAIL_ON = ("error", "warning", "info", "never")

# The audit gate's exit codes (scripts/audit.sh --gate, salt-call --retcode-passthrough): by verdict.
EXIT_CODES = {"compliant": 0, "drift": 1, "usage": 2, "incomplete": 3, "failed": 4, "unreachable": 4}

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value):
    """max_facts_age as seconds: a number, or text like 90m, 24h, 2d (None or empty: no limit).
    Raises ValueError with a message that says what is expected."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    try:
        if text[-1:] in _UNITS:
            return float(text[:-1]) * _UNITS[text[-1]]
        return float(text)
    except ValueError:
        raise ValueError("max_facts_age: %r is not a duration (seconds, or a number with s, m, h, d or w: 24h)" % (value,))


def audit(facts, loaded, fail_on="error", allow_incomplete=False, today=None, max_age=None):
    """Evaluate `facts` (ansible_facts.netstat) against `loaded` (the policy loader's result).

    Returns the host result: verdict, compliant, counts, findings, waived, summary, policies,
    policy_files, fail_on, fails (findings at or above fail_on remain, or the host is incomplete
    when that is not allowed), facts_summary and console (the lines a person reads).
    Raises _policy.PolicyEvalError when the facts cannot be evaluated.
    """
    if fail_on not in FAIL_ON:
        raise ValueError("fail_on: %r is not one of %s" % (fail_on, ", ".join(FAIL_ON)))
    host = _policy.evaluate(
        facts,
        loaded.layers,
        today=today,
        max_age=max_age,
        incomplete_severity="info" if allow_incomplete else None,
        fail_on=fail_on,
    )
    host["policy_files"] = list(loaded.files)
    host["fail_on"] = fail_on
    # what the report shows of the facts (backend, completeness, counts), so that an audit needs
    # no separate facts task
    host["facts_summary"] = facts_summary(facts)
    host["fails"] = _policy.fails(host, fail_on)
    host["console"] = _console.console_lines(host, fail_on)
    return host


def exit_code(verdict):
    """The gate's exit code for a host or fleet verdict (anything unknown: could not audit)."""
    return EXIT_CODES.get(verdict, 4)
