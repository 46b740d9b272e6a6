# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Findings: the evaluation context that collects them, their structured fields, and the
incomplete-facts finding about a socket whose owner could not be read.

This is a private module_utils file of netaudit.netstat, part of the policy engine whose entry
point is _policy.py; its API may change at any time. Standard library only, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections.abc import Mapping

from ansible_collections.netaudit.netstat.plugins.module_utils import _scope
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_base import (
    DEFAULT_SEVERITY,
    _context_values,
    _endpoint,
    _is_int,
    _source,
)


class _Ctx(object):
    def __init__(self, facts, policy, today, incomplete_severity):
        self.facts = facts
        self.policy = policy
        self.today = today
        self.findings = []
        sev = (policy.get("completeness") or {}).get("severity", "error")
        if incomplete_severity is not None:
            sev = incomplete_severity
        self.incomplete_severity = sev
        self.services = dict(policy.get("services") or {})
        self.spaces = _scope.Spaces(facts)
        self.max_age = None  # seconds: older facts are incomplete (a re-audit from a fact cache)
        self.now = None  # an aware datetime, for the age (default: now)
        self.severities = {k: v for k, v in (policy.get("severities") or {}).items() if not k.startswith("__")}

    def severity(self, rule, override=None):
        return override or self.severities.get(rule) or DEFAULT_SEVERITY[rule]

    def add(
        self,
        rule,
        subject,
        expected,
        actual,
        message,
        source=None,
        severity=None,
        match=None,
        sortkey=None,
    ):
        severity = self.severity(rule, severity)
        if severity == "ignore":
            return
        finding = {
            "rule": rule,
            "severity": severity,
            "subject": subject,
            "expected": expected,
            "actual": actual,
            "message": message,
            "source": source,
            "waived": None,
        }
        finding.update(finding_fields(match))
        finding["_sort"] = sortkey if sortkey is not None else (subject,)
        self.findings.append(finding)


# The structured fields every finding carries besides rule/severity/subject/expected/actual/
# message/source/waived (None or [] when they do not apply). Reports, grouping and waivers read
# these, never the text.
FINDING_FIELDS = {
    "proto": None,  # tcp | udp | unix
    "family": None,  # ipv4 | ipv6
    "address": None,  # local address of a listener
    "port": None,  # local port (listeners, scoped limits, missing listeners)
    "remote_address": None,  # egress findings: the peer
    "remote_port": None,
    "path": None,  # UNIX socket path
    "state": None,  # state-threshold: the state counted
    "programs": [],  # [{name, exe, pids, pid_count, users}]
    "users": [],  # user names (the socket's and its processes'), uids without a name as text
    "uids": [],  # numeric uids
    "units": [],  # systemd units of the processes (from their cgroup)
    "containers": [],  # the socket's containers: names, or short ids where the runtime named none
    "container_ids": [],  # their full ids
    "images": [],  # their images
    "netns": None,  # the socket's network namespace when it is not the primary one (its name, or "netns INODE")
    "cause": None,  # incomplete-facts: why the facts are partial (not-root, capabilities, ...)
    "unresolved": None,  # incomplete-facts about one socket: {cause, causes, pids, detail}
}


def finding_fields(match):
    """FINDING_FIELDS filled from an evaluator's `match` dict (unknown keys are dropped)."""
    out = {}
    match = match or {}
    for key, default in FINDING_FIELDS.items():
        value = match.get(key, default)
        if isinstance(default, list):
            value = list(value or [])
        out[key] = value
    out["programs"] = [p if isinstance(p, dict) else {"name": p, "exe": None, "pids": [], "pid_count": 0, "users": []}
                       for p in out["programs"]]
    return out


def _listener_subject(lst, spaces=None):
    label = (spaces or _scope.NO_SPACES).label(lst)
    return "%s %s%s" % (lst.get("proto"), _endpoint(lst.get("address"), lst.get("port")), " (%s)" % label if label else "")


def _listener_sortkey(lst):
    return (
        lst.get("proto") or "",
        _int_or(lst.get("port"), 0),
        lst.get("family") or "",
        str(lst.get("address")),
    )


def _int_or(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _programs_attr(processes, max_pids=10):
    """The `programs` field of a finding: one entry per program name, with its pids (ascending,
    at most `max_pids` listed and `pid_count` for all), executable and users."""
    by_name = {}
    for proc in processes or []:
        if not isinstance(proc, dict):
            continue
        name = proc.get("name")
        cur = by_name.get(name)
        if cur is None:
            cur = by_name[name] = {"name": name, "exe": proc.get("exe"), "pids": [], "pid_count": 0, "users": []}
        cur["pid_count"] += 1
        if proc.get("pid") is not None and len(cur["pids"]) < max_pids:
            cur["pids"].append(proc.get("pid"))
        user = proc.get("user") if proc.get("user") is not None else proc.get("uid")
        if user is not None and str(user) not in cur["users"]:
            cur["users"].append(str(user))
    out = [by_name[k] for k in sorted(by_name, key=lambda n: (n is None, str(n)))]
    for prog in out:
        prog["pids"].sort(key=lambda p: _int_or(p, 0))
        prog["users"].sort()
    return out


def _users_attr(sock_user, sock_uid, processes):
    """(users, uids) of a socket: the socket's own and its processes', as sorted lists."""
    users, uids = set(), set()
    for user, uid in [(sock_user, sock_uid)] + [
        (p.get("user"), p.get("uid")) for p in processes or [] if isinstance(p, dict)
    ]:
        if user is not None:
            users.add(str(user))
        if isinstance(uid, int) and not isinstance(uid, bool):
            uids.add(uid)
            if user is None:
                users.add(str(uid))
    return sorted(users), sorted(uids)


class Lazy(object):
    """Text made only when it is used (a finding's owner description): most sockets of a host that
    complies never need theirs, and 10,000 hosts' worth is most of an evaluation."""

    __slots__ = ("_make", "_value")

    def __init__(self, make):
        self._make = make
        self._value = None

    def __str__(self):
        if self._value is None:
            self._value = self._make()
        return self._value


class LazyFields(Mapping):
    """A finding's structured fields, computed on first use (see Lazy)."""

    __slots__ = ("_make", "_value")

    def __init__(self, make):
        self._make = make
        self._value = None

    def _data(self):
        if self._value is None:
            self._value = self._make()
        return self._value

    def __getitem__(self, key):
        return self._data()[key]

    def __iter__(self):
        return iter(self._data())

    def __len__(self):
        return len(self._data())


def _context_fields(sock, processes, spaces=None):
    """units, containers, container_ids, images and netns of a finding about `sock`."""
    conts = _scope.socket_containers(dict(sock or {}, processes=processes or []))
    return {
        "units": _context_values(processes, "unit"),
        "containers": _scope.container_labels(conts),
        "container_ids": sorted({c["id"] for c in conts}),
        "images": sorted({c["image"] for c in conts if isinstance(c.get("image"), str)}),
        "netns": (spaces or _scope.NO_SPACES).label(sock or {}),
    }


def _listener_match(lst, spaces=None):
    """The structured fields of a finding about one listener."""
    users, uids = _users_attr(lst.get("user"), lst.get("uid"), lst.get("processes"))
    return {
        "proto": lst.get("proto"),
        "family": lst.get("family"),
        "address": lst.get("address"),
        "port": lst.get("port"),
        "programs": _programs_attr(lst.get("processes")),
        "users": users,
        "uids": uids,
        **_context_fields(lst, lst.get("processes"), spaces)
    }


def _unknown_owner_severity(ctx):
    sev = ctx.incomplete_severity
    return "info" if sev == "ignore" else sev


def _owner_unresolved(ctx, sock, owner_rules=True):
    """Why the owner of `sock` is unknown ({cause, detail, pids, ...}), or None when it is known
    or does not matter. Facts from this collection carry `owner_unresolved` per socket; older
    facts only say `complete: false` for the whole collector."""
    if sock.get("processes"):
        return None
    unresolved = sock.get("owner_unresolved")
    if isinstance(unresolved, dict):
        return unresolved
    collector = ctx.facts.get("collector") or {}
    if not isinstance(collector, dict):
        return None
    if collector.get("owners") is False:
        if not owner_rules:
            return None
        return {"cause": "owners-not-gathered", "detail": "the facts were gathered with owners: false", "pids": []}
    if "owner_unresolved" not in sock and collector.get("complete") is False and "reason_codes" not in collector:
        reasons = [str(r) for r in collector.get("reasons") or []] or ["the facts are incomplete"]
        return {"cause": "unknown", "detail": "; ".join(reasons), "pids": []}
    return None


# What to do about each cause of an unresolved owner (the causes of _inspect.py), for messages.
CAUSE_ADVICE = {
    "not-root": "gather as root (become: true)",
    "hidepid": "gather as root, or as a member of the gid= group of the hidepid /proc mount",
    "capabilities": "gather with full capabilities (outside the sandbox or container that reduced them)",
    "user-namespace": "gather from the owner of that process's user namespace",
    "lsm": "allow the gatherer ptrace read access in the LSM policy",
    "vanished": "gather again",
    "owners-not-gathered": "gather with owners: true",
    "runtime": "let the gatherer read the container runtime's API (container_sockets; root can read Docker's socket)",
}


def _add_unresolved(ctx, rule_subject, fields, unresolved, what, sortkey, waiver_hint):
    """One incomplete-facts finding about one socket whose owner could not be read."""
    cause = unresolved.get("cause")
    cause = cause if isinstance(cause, str) and cause else "unknown"
    detail = unresolved.get("detail")
    detail = detail if isinstance(detail, str) and detail else cause
    causes = unresolved.get("causes")
    pids = unresolved.get("pids")
    advice = CAUSE_ADVICE.get(cause, "gather again as root")
    f = dict(fields)
    f["cause"] = cause
    f["unresolved"] = {
        "cause": cause,
        "causes": [c for c in causes if isinstance(c, str)] if isinstance(causes, list) else [cause],
        "pids": [p for p in pids if _is_int(p)] if isinstance(pids, list) else [],
        "detail": detail,
    }
    ctx.add(
        "incomplete-facts",
        rule_subject,
        "the owner of this socket (%s)" % what,
        "owner unknown: %s" % detail,
        "owner of %s unknown: %s. To see it, %s; to accept it, waive {rule: incomplete-facts, match: {%s}} "
        "or set allow_unresolved: true on its allow entry" % (rule_subject, detail, advice, waiver_hint),
        source=_source(ctx.policy.get("completeness") or {}, "severity") or _source(ctx.policy.get("completeness") or {}),
        severity=_unknown_owner_severity(ctx),
        match=f,
        sortkey=sortkey,
    )
