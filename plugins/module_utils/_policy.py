# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Socket policy evaluation: ansible_facts.netstat + policy -> drift findings.

This is a private module_utils file of netaudit.netstat; its API may change at any time.

Pure Python standard library (3.8+), no Ansible imports: the action plugin, the filter, the test
and any other front end share this one implementation. Policies arrive already loaded (plain
dicts, see plugins/plugin_utils/_policy_loader.py, which also validates them and annotates every
mapping with ``__source__`` = "file:line" so that findings can cite the rule involved).

Entry points:

- ``merge_policies(policies)``: a list of loaded policies -> one merged policy (later refine earlier).
- ``evaluate(facts, policy, today=None)``: -> host result
  ``{compliant, counts: {error, warning, info}, waived, findings: [...], summary, policies}``.
- ``connections_mode_needed(policy)``: ``"compact"`` when the policy needs the connection list.

Where each part is judged (one file each, all standard library):

- ``_policy_base.py``: severities, rule ids, service names, bind classes; ports, binds, CIDRs,
  dates; globs on programs and users;
- ``_policy_entry.py``: one allow/deny entry compiled (what it is about, how a socket differs);
- ``_scope.py``: network namespaces, containers, images and units (the netns/container/image/unit
  matchers);
- ``_policy_compose.py``: layering (extends, named entries);
- ``_policy_facts.py``: the facts' shape checked, the connection list normalised;
- ``_policy_findings.py``: the evaluation context, the findings' structured fields, incomplete-facts
  about one socket;
- ``_policy_listeners.py``, ``_policy_states.py`` (states and queues), ``_policy_egress.py``,
  ``_policy_unix.py``, ``_policy_completeness.py``: the rule kinds;
- ``_policy_waivers.py``: waivers;
- this file: ``evaluate()`` and the verdicts.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.netaudit.netstat.plugins.module_utils._policy_base import (  # noqa: F401
    BIND_CLASSES,
    DEFAULT_SEVERITY,
    KEY_SOURCES,
    LAYER_KEY,
    MAX_PEER_FINDINGS,
    MERGED_KEY,
    PolicyEvalError,
    RULES,
    SERVICES,
    SEVERITIES,
    SEVERITY_RANK,
    SOURCE_KEY,
    TCP_STATE_NAMES,
    UNIX_STATE_NAMES,
    _endpoint,
    parse_bind,
    parse_cidrs,
    parse_date,
    parse_ports,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_entry import (  # noqa: F401
    Entry,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_compose import (  # noqa: F401
    connections_mode_needed,
    merge_policies,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_facts import (  # noqa: F401
    check_facts,
    normalise_connections,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_findings import (  # noqa: F401
    CAUSE_ADVICE,
    FINDING_FIELDS,
    _Ctx,
    finding_fields,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_listeners import (  # noqa: F401
    _eval_listeners,
    _published_only,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_states import (  # noqa: F401
    _eval_queues,
    _eval_states,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_egress import (  # noqa: F401
    _eval_egress,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_unix import (  # noqa: F401
    _eval_unix,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_completeness import (  # noqa: F401
    _eval_completeness,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_waivers import (  # noqa: F401
    _apply_waivers,
    _match_text,
)

# What the action, the filter, the test, the report and the tests use of the engine.
__all__ = [
    'BIND_CLASSES',
    'CAUSE_ADVICE',
    'DEFAULT_SEVERITY',
    'Entry',
    'FINDING_FIELDS',
    'KEY_SOURCES',
    'LAYER_KEY',
    'MAX_PEER_FINDINGS',
    'MERGED_KEY',
    'PolicyEvalError',
    'RULES',
    'SERVICES',
    'SEVERITIES',
    'SEVERITY_RANK',
    'SOURCE_KEY',
    'TCP_STATE_NAMES',
    'UNIX_STATE_NAMES',
    'VERDICTS',
    '_endpoint',
    '_match_text',
    '_published_only',
    'check_facts',
    'compile_policy',
    'connections_mode_needed',
    'counted',
    'evaluate',
    'fails',
    'finding_fields',
    'judge',
    'merge_policies',
    'normalise_connections',
    'parse_bind',
    'parse_cidrs',
    'parse_date',
    'parse_ports',
    'summarize',
]


def compile_policy(policy):
    """The policy merged once, for evaluating many hosts against it: ``evaluate(facts,
    compile_policy(layers))`` in a loop merges the layers once and compiles each entry once (the
    compiled entries are kept in the merged policy). Do not change a compiled policy; compile the
    changed one."""
    return merge_policies(policy)


def _today(today):
    if today is None:
        return datetime.date.today()
    return parse_date(today)


def _sortable(value):
    return tuple((0, v) if isinstance(v, (int, float)) else (1, str(v)) for v in value)


def evaluate(facts, policy, today=None, incomplete_severity=None, fail_on="error", max_age=None, now=None):
    """Evaluate ansible_facts.netstat against a policy (one loaded dict, a list, or merged).

    `today` (date or 'YYYY-MM-DD', default: the current date) decides which waivers are active.
    `incomplete_severity` overrides the policy's completeness.severity (error|warning|info|ignore).
    `fail_on` (error|warning|info|never) is the lowest severity that counts against the verdict
    (`never` judges at `error` but, with fails(), fails nothing).
    `max_age` (seconds): facts gathered longer ago than that (``collector.gathered_at``, against
    `now`, an aware datetime defaulting to the current time) are incomplete-facts (cause stale):
    a re-audit from a fact cache judges what the host was, not what it is.
    Raises PolicyEvalError for a policy value the engine cannot use.
    """
    if facts is None:
        facts = {}
    if not isinstance(facts, dict):
        raise PolicyEvalError("facts must be a mapping (ansible_facts.netstat), not %s" % type(facts).__name__)
    if "netstat" in facts and "listeners" not in facts and isinstance(facts["netstat"], dict):
        facts = facts["netstat"]  # ansible_facts passed whole
    check_facts(facts)
    merged = merge_policies(policy)
    ctx = _Ctx(facts, merged, _today(today), incomplete_severity)
    if max_age is not None:
        if not isinstance(max_age, (int, float)) or isinstance(max_age, bool) or not 0 <= max_age < float("inf"):
            raise PolicyEvalError("max_age must be a number of seconds >= 0, not %r" % (max_age,))
        ctx.max_age = max_age
        ctx.now = now
    listeners = [x for x in facts.get("listeners") or [] if isinstance(x, dict)]
    listeners.extend(_published_only(facts))
    # the connection list only when a rule reads it (egress, scoped state limits, socket queues):
    # 500 compact rows per host are parsed for nothing otherwise, 10,000 hosts over
    conns = normalise_connections(facts) if connections_mode_needed(merged) else None
    _eval_listeners(ctx, listeners)
    _eval_states(ctx, listeners, conns)
    _eval_queues(ctx, listeners, conns)
    _eval_egress(ctx, listeners, conns)
    _eval_unix(ctx)
    _eval_completeness(ctx)
    _apply_waivers(ctx)

    findings = sorted(
        ctx.findings,
        key=lambda f: (
            f["waived"] is not None,
            SEVERITY_RANK.get(f["severity"], 9),
            f["rule"],
            _sortable(f["_sort"]),
            f["subject"],
            str(f["expected"]),
            str(f["actual"]),
            str(f["source"]),
        ),
    )
    for f in findings:
        del f["_sort"]
    counts = {s: 0 for s in SEVERITIES}
    waived = 0
    for f in findings:
        if f["waived"] is not None:
            waived += 1
        else:
            counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    verdict, drift_n, incomplete_n = judge(findings, fail_on)
    compliant = verdict == "compliant"
    return {
        "verdict": verdict,
        "compliant": compliant,
        "drift_findings": drift_n,
        "incomplete_findings": incomplete_n,
        "counts": counts,
        "waived": waived,
        "findings": findings,
        "summary": summarize(verdict, counts, waived),
        "policies": list(merged.get("policies") or []),
        "policy_files": list(merged.get("files") or []),
    }


# Host verdicts (DESIGN.md): what was seen, in order of precedence when several hold.
VERDICTS = ("compliant", "drift", "incomplete", "unreachable", "failed")


def counted(findings, fail_on="error"):
    """The findings that count against the verdict: unwaived, at or above `fail_on` (`never`
    judges at `error`)."""
    limit = SEVERITY_RANK.get("error" if fail_on in (None, "never") else fail_on, 0)
    return [f for f in findings if not f.get("waived") and SEVERITY_RANK.get(f.get("severity"), 9) <= limit]


def judge(findings, fail_on="error"):
    """(verdict, drift findings, incomplete findings) from counted(findings, fail_on): drift when
    any is not incomplete-facts (drift wins), incomplete when the only ones are incomplete-facts,
    else compliant."""
    found = counted(findings, fail_on)
    incomplete = sum(1 for f in found if f.get("rule") == "incomplete-facts")
    drift = len(found) - incomplete
    verdict = "drift" if drift else "incomplete" if incomplete else "compliant"
    return verdict, drift, incomplete


def summarize(verdict, counts, waived=0):
    if verdict is True or verdict is False:  # the former signature: compliant or not
        verdict = "compliant" if verdict else "drift"
    text = "%s: %d error(s), %d warning(s), %d info" % (
        verdict,
        counts.get("error", 0),
        counts.get("warning", 0),
        counts.get("info", 0),
    )
    if waived:
        text += ", %d waived" % waived
    return text


def fails(result, fail_on="error"):
    """True when `result` has unwaived findings at or above `fail_on` (error|warning|info|never)."""
    if fail_on in (None, "never"):
        return False
    if fail_on not in SEVERITY_RANK:
        raise PolicyEvalError("fail_on must be one of error, warning, info, never; got %r" % (fail_on,))
    limit = SEVERITY_RANK[fail_on]
    return any(n and SEVERITY_RANK[s] <= limit for s, n in result["counts"].items() if s in SEVERITY_RANK)
