# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Completeness: facts that could not see everything are incomplete-facts, never compliant.

This is a private module_utils file of netaudit.netstat, part of the policy engine whose entry
point is _policy.py; its API may change at any time. Standard library only, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from ansible_collections.netaudit.netstat.plugins.module_utils._policy_base import (
    _source,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_findings import (
    _unknown_owner_severity,
)


def _facts_age(collector, now):
    """Seconds since the facts were gathered (collector.gathered_at), or None when unknown."""
    text = collector.get("gathered_at") if isinstance(collector, dict) else None
    if not isinstance(text, str):
        return None
    try:
        when = datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None
    return (now - when).total_seconds()


def _eval_age(ctx):
    """Facts older than the limit the user gave (max_age, seconds) are incomplete: what they show
    may have changed since."""
    if ctx.max_age is None:
        return
    collector = ctx.facts.get("collector") or {}
    now = ctx.now or datetime.datetime.now(datetime.timezone.utc)
    age = _facts_age(collector, now)
    if age is not None and age <= ctx.max_age:
        return
    actual = "gathered at an unknown time (no collector.gathered_at)" if age is None else (
        "gathered %s ago, at %s" % (_duration(age), collector.get("gathered_at")))
    ctx.add(
        "incomplete-facts",
        "facts age",
        "facts gathered at most %s ago" % _duration(ctx.max_age),
        actual,
        "the facts were %s (the limit is %s); gather them again (the audit playbook does) before judging the host"
        % (actual, _duration(ctx.max_age)),
        severity=_unknown_owner_severity(ctx),
        match={"cause": "stale"},
        sortkey=("", 0, "facts age"),
    )


def _duration(seconds):
    seconds = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0 or seconds >= 10 * size:
            return "%d%s" % (seconds // size, unit)
    return "%ds" % seconds


def _eval_completeness(ctx):
    _eval_age(ctx)
    collector = ctx.facts.get("collector") or {}
    if not ctx.facts or "listeners" not in ctx.facts:
        ctx.add(
            "incomplete-facts",
            "facts",
            "ansible_facts.netstat from netaudit.netstat.netstat_facts",
            "no listener table",
            "the facts carry no listener table; gather them with netaudit.netstat.netstat_facts before auditing",
            severity="error",
            source=_source(ctx.policy.get("completeness") or {}),
            sortkey=("", 0, "facts"),
        )
        return
    if not isinstance(collector, dict) or collector.get("complete", True) is not False:
        return
    sev = ctx.incomplete_severity
    if sev == "ignore":
        return
    reasons = [str(r) for r in collector.get("reasons") or []] or ["no reason given"]
    codes = collector.get("reason_codes")
    per_socket = any(f["rule"] == "incomplete-facts" and f.get("unresolved") for f in ctx.findings)
    if isinstance(codes, list) and len(codes) == len(reasons):
        # unresolved owners are findings of the sockets concerned (a socket no rule looks at, such
        # as an unnamed UNIX socket, needs no owner); what no socket carries is said here
        reasons = [r for r, c in zip(reasons, codes) if c != "owners-unresolved"]
    elif per_socket:
        return  # older facts: every listener without an owner already has its finding
    if not reasons:
        return
    ctx.add(
        "incomplete-facts",
        "collector",
        "complete facts",
        "; ".join(reasons),
        "the facts are incomplete (%s); gather again, or set completeness.severity in the policy" % "; ".join(reasons),
        source=_source(ctx.policy.get("completeness") or {}, "severity"),
        severity=sev,
        match={"cause": "collector"},
        sortkey=("", 0, "collector"),
    )
