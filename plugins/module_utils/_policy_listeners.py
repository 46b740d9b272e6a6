# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Listener rules: allow/deny entries, closed world, required listeners, ports published by NAT
alone (unexpected-listener, forbidden-listener, wrong-owner, wrong-user, wrong-bind,
missing-listener).

This is a private module_utils file of netaudit.netstat, part of the policy engine whose entry
point is _policy.py; its API may change at any time. Standard library only, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netaudit.netstat.plugins.module_utils import _scope
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_base import (
    SEVERITY_RANK,
    _owners_text,
    _port_in,
    _ports_text,
    _source,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_entry import (
    compiled_entries,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_findings import (
    Lazy,
    LazyFields,
    _add_unresolved,
    _listener_match,
    _listener_sortkey,
    _listener_subject,
    _owner_unresolved,
)


class _PortIndex(object):
    """Entries by the ports they name, so that a listener is checked against the entries about its
    port (and those without a port) instead of every entry: a policy of 10,000 rules costs what
    its few relevant ones cost."""

    MAX_EXPAND = 64  # a range up to this wide is indexed port by port

    def __init__(self, entries):
        self.by_port = {}
        self.wide = []  # (lo, hi, entry) of wider ranges
        self.portless = []
        for e in entries:
            if e.ports is None:
                self.portless.append(e)
                continue
            for lo, hi in e.ports:
                if hi - lo < self.MAX_EXPAND:
                    for port in range(lo, hi + 1):
                        self.by_port.setdefault(port, []).append(e)
                else:
                    self.wide.append((lo, hi, e))

    def for_port(self, port):
        out = list(self.portless)
        if port is not None:
            out.extend(self.by_port.get(port, ()))
            out.extend(e for lo, hi, e in self.wide if lo <= port <= hi)
        seen = set()
        unique = []
        for e in out:
            if id(e) not in seen:
                seen.add(id(e))
                unique.append(e)
        return unique


def _listener_rules_need_owner(allow, deny):
    return any(e.programs is not None for e in list(allow) + list(deny))


def _eval_listeners(ctx, listeners):
    pol = ctx.policy.get("listeners") or {}
    default = pol.get("default", "allow")
    allow = compiled_entries(ctx, "listeners", "allow")
    deny = compiled_entries(ctx, "listeners", "deny")
    owner_rules = _listener_rules_need_owner(allow, deny)
    allow_index, deny_index = _PortIndex(allow), _PortIndex(deny)
    satisfied = {}  # id(entry) -> set of ports seen fully matching
    near_hit = set()  # ids of required entries a listener nearly matched (already a finding)

    for lst in listeners:
        subject = _listener_subject(lst, ctx.spaces)
        if lst.get("kind") == "published":
            owners = "published by %s to port %s (NAT rules, no host socket)" % (
                ",".join(_scope.container_labels(_scope.socket_containers(lst))) or "a container", lst.get("container_port"))
        else:
            owners = Lazy(lambda lst=lst: _owners_text(lst.get("processes")))
        match = LazyFields(lambda lst=lst: _listener_match(lst, ctx.spaces))
        skey = _listener_sortkey(lst)
        unresolved = _owner_unresolved(ctx, lst, owner_rules)
        unknown = unresolved is not None
        denied = [d for d in deny_index.for_port(lst.get("port")) if d.deny_matches_listener(lst)]

        has_owner = bool(lst.get("processes"))

        def known(mismatches, unknown=unknown, has_owner=has_owner):
            # with the owner unknown, a program check is neither met nor broken; so is a container
            # or image check on a container the runtime did not name
            return [m for m in mismatches if not ((unknown or has_owner) and m[2] is None)]

        maybe = [a for a in allow_index.for_port(lst.get("port")) if a.listener_anchor(lst, unknown)]
        allowed = [a for a in maybe if not known(a.listener_mismatches(lst))]
        best_deny = (
            max(denied, key=lambda e: (e.layer, -SEVERITY_RANK.get(e.severity or "error", 0), -e.index)) if denied else None
        )
        best_allow = max(allowed, key=lambda e: (e.layer, -e.index)) if allowed else None
        for a in allowed:
            satisfied.setdefault(id(a), set()).add((lst.get("proto"), lst.get("port")))
        undetermined = [m for m in best_allow.listener_mismatches(lst) if m[2] is None] if (
            best_allow is not None and has_owner) else []
        if undetermined and not best_allow.allow_unresolved:
            _add_unresolved(
                ctx, subject, match,
                {"cause": "runtime", "causes": ["runtime"], "pids": [],
                 "detail": "the container runtime did not name this socket's container, so %s (rule at %s) cannot be "
                           "judged" % (", ".join(m[1] for m in undetermined), best_allow.where())},
                "listener", skey, "proto: %s, port: %s" % (lst.get("proto"), lst.get("port")))
        if unknown and not any(a.allow_unresolved for a in allowed):
            _add_unresolved(
                ctx,
                subject,
                match,
                unresolved,
                "listener",
                skey,
                "proto: %s, port: %s" % (lst.get("proto"), lst.get("port")),
            )
        if best_deny is not None and (best_allow is None or best_deny.layer >= best_allow.layer):
            why = " (%s)" % best_deny.reason if best_deny.reason else ""
            ctx.add(
                "forbidden-listener",
                subject,
                "not listening: forbidden by deny rule %s%s" % (best_deny.describe(), why),
                "listening: %s" % owners,
                "%s is forbidden by the policy%s, but %s listens on it; stop or reconfigure the "
                "service, or remove the deny rule at %s" % (subject, why, owners, best_deny.where()),
                source=best_deny.source,
                severity=best_deny.severity,
                match=match,
                sortkey=skey,
            )
            continue
        if best_allow is not None:
            continue
        candidates = maybe
        if candidates:
            scored = sorted(
                candidates,
                key=lambda e: (len(known(e.listener_mismatches(lst))), -e.layer, e.index),
            )
            best = scored[0]
            if best.required:
                near_hit.add((id(best), lst.get("port")))
            for rule, expected, actual in known(best.listener_mismatches(lst)):
                sev = best.severity
                if actual is None:  # no process holds the socket (a kernel socket), and nothing hid one
                    actual = "no process holds this socket"
                    msg = (
                        "%s is allowed only for %s (rule at %s), but no process holds this socket "
                        "(a kernel socket, or one in flight); find out what opened it, or change the rule"
                        % (subject, expected, best.where())
                    )
                elif rule == "wrong-bind":
                    msg = (
                        "%s is bound to %s but the rule at %s allows it only on %s; rebind the "
                        "service (%s) or change the rule" % (subject, actual, best.where(), expected[5:], owners)
                    )
                elif rule == "wrong-owner":
                    msg = (
                        "%s is held by %s but the rule at %s allows only %s on it; find out why "
                        "%s owns the port, or change the rule" % (subject, owners, best.where(), expected, actual)
                    )
                else:
                    msg = "%s runs as %s but the rule at %s expects %s; fix the service account or the rule" % (
                        subject,
                        actual,
                        best.where(),
                        expected,
                    )
                ctx.add(
                    rule,
                    subject,
                    expected,
                    actual,
                    msg,
                    source=best.source,
                    severity=sev,
                    match=match,
                    sortkey=skey,
                )
            continue
        if default == "deny":
            ctx.add(
                "unexpected-listener",
                subject,
                "no listener (no allow rule matches; listeners.default: deny)",
                "listening: %s" % owners,
                "%s is open (%s) but no allow rule matches it; stop the service if it should not "
                "run, or add an allow entry to the policy" % (subject, owners),
                source=_source(pol, "default") or _source(pol),
                match=match,
                sortkey=skey,
            )

    for a in allow:
        if not a.required:
            continue
        seen = satisfied.get(id(a), set())
        nearly = {port for eid, port in near_hit if eid == id(a)}
        for unit in [None] if a.ports is None else a.ports:
            if unit is None:
                ok = bool(seen) or bool(nearly)
                where = "a listener"
            else:
                ok = any(_port_in(port, [unit]) for dummy, port in seen) or any(_port_in(port, [unit]) for port in nearly)
                where = "port %s" % _ports_text([unit])
            if ok:
                continue
            protos = "/".join(a.protos) if a.protos else "tcp/udp"
            subject = "%s %s" % (protos, where if unit is not None else a.describe())
            ctx.add(
                "missing-listener",
                subject,
                "listening: %s" % a.describe(),
                "not listening",
                "%s is required by the rule at %s but nothing listens there; start the service "
                "or drop `required`" % (a.describe(), a.where()),
                source=a.source,
                severity=a.severity,
                match={
                    "proto": a.protos[0] if len(a.protos) == 1 else None,
                    "family": a.family,
                    "port": unit[0] if unit else None,
                    "programs": list(a.programs or []),
                    "users": list(a.users or []),
                },
                sortkey=(
                    a.protos[0] if a.protos else "",
                    unit[0] if unit else 0,
                    "",
                    "",
                ),
            )


def _published_only(facts):
    """The ports a container runtime publishes with no host socket (NAT rules alone), as listeners
    of their own kind: reachable from outside, so judged like listeners."""
    out = []
    primary = ((facts.get("collector") or {}) if isinstance(facts.get("collector"), dict) else {}).get("primary_netns")
    for pub in facts.get("published") or []:
        if not isinstance(pub, dict) or pub.get("socket"):
            continue
        out.append({
            "kind": "published",
            "proto": pub.get("proto"),
            "family": pub.get("family"),
            "address": pub.get("address"),
            "port": pub.get("port"),
            "exposure": pub.get("exposure"),
            "container_port": pub.get("container_port"),
            "container": pub.get("container"),
            "processes": [],
            "owner_unresolved": None,
            "netns": primary,
        })
    return out
