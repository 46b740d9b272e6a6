# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Egress rules: which peers the host's connections may reach (forbidden-peer, unexpected-peer).

This is a private module_utils file of netaudit.netstat, part of the policy engine whose entry
point is _policy.py; its API may change at any time. Standard library only, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netaudit.netstat.plugins.module_utils._policy_base import (
    MAX_PEER_FINDINGS,
    SEVERITY_RANK,
    _as_list,
    _endpoint,
    _norm_addr,
    _owners_text,
    _program_names,
    _source,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_entry import (
    compiled_entries,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_findings import (
    _context_fields,
    _programs_attr,
    _unknown_owner_severity,
    _users_attr,
)


def _eval_egress(ctx, listeners, conns):
    pol = ctx.policy.get("egress") or {}
    default = pol.get("default", "allow")
    allow = compiled_entries(ctx, "egress", "allow")
    deny = compiled_entries(ctx, "egress", "deny")
    if not allow and not deny and default != "deny":
        return
    if conns is None:
        ctx.add(
            "incomplete-facts",
            "egress",
            "the connection list (gather with connections: compact or full)",
            "no connection list",
            "the egress rules (%s) need the connection list; gather facts with connections: compact" % (_source(pol) or "egress"),
            source=_source(pol),
            severity=_unknown_owner_severity(ctx),
            sortkey=("", 0, "egress"),
        )
        return
    states = [str(s) for s in _as_list(pol.get("states"))] or [
        "ESTABLISHED",
        "SYN_SENT",
    ]
    ignore_loopback = pol.get("ignore_loopback", True)
    listen_ports = {(x.get("proto"), x.get("port")) for x in listeners}
    groups = {}
    for c in conns:
        if c.get("state") not in states or not c.get("remote_port"):
            continue
        if (c.get("proto"), c.get("local_port")) in listen_ports:
            continue  # inbound to one of our listeners
        ip = _norm_addr(c.get("remote_address"))
        if ignore_loopback and ip is not None and ip.is_loopback:
            continue
        denied = [d for d in deny if d.matches_conn_peer(c)]
        allowed = [a for a in allow if a.matches_conn_peer(c)]
        best_deny = (
            max(denied, key=lambda e: (e.layer, -SEVERITY_RANK.get(e.severity or "error", 0), -e.index)) if denied else None
        )
        best_allow = max(allowed, key=lambda e: (e.layer, -e.index)) if allowed else None
        if best_deny is not None and (best_allow is None or best_deny.layer >= best_allow.layer):
            rule, entry = "forbidden-peer", best_deny
        elif best_allow is None and default == "deny":
            rule, entry = "unexpected-peer", None
        else:
            continue
        gk = (
            rule,
            c.get("proto"),
            str(ip if ip is not None else c.get("remote_address")),
            c.get("remote_port"),
            tuple(_program_names(c.get("processes"))),
            id(entry),
            ctx.spaces.label(c) or "",
        )
        groups.setdefault(gk, (entry, []))[1].append(c)
    shown = {}
    for gk in sorted(groups, key=lambda k: (k[0], k[1] or "", k[2], k[3] or 0, k[4])):
        rule, proto, addr, rport, progs, dummy, label = gk
        entry, items = groups[gk]
        shown[rule] = shown.get(rule, 0) + 1
        if shown[rule] > MAX_PEER_FINDINGS:
            continue
        subject = "%s -> %s%s" % (proto, _endpoint(addr, rport), " (%s)" % label if label else "")
        procs = []
        for c in items:
            procs.extend(c.get("processes") or [])
        owners = _owners_text(procs)
        actual = "%d connection(s) from %s" % (len(items), owners)
        users, uids = _users_attr(None, None, procs)
        match = {
            "proto": proto,
            "remote_port": rport,
            "remote_address": addr,
            "programs": _programs_attr(procs),
            "users": users,
            "uids": uids,
            **_context_fields(items[0] if items else {}, procs, ctx.spaces)
        }
        if rule == "forbidden-peer":
            why = " (%s)" % entry.reason if entry.reason else ""
            ctx.add(
                rule,
                subject,
                "no connection: forbidden by %s%s" % (entry.describe(), why),
                actual,
                "%s connects to %s, which the rule at %s forbids%s; stop it or fix its configuration"
                % (owners, _endpoint(addr, rport), entry.where(), why),
                source=entry.source,
                severity=entry.severity,
                match=match,
                sortkey=(proto, rport, addr),
            )
        else:
            ctx.add(
                rule,
                subject,
                "no connection (no egress allow rule matches; egress.default: deny)",
                actual,
                "%s connects to %s but no egress allow rule matches; find out why, or add an "
                "egress allow entry" % (owners, _endpoint(addr, rport)),
                source=_source(pol, "default") or _source(pol),
                match=match,
                sortkey=(proto, rport, addr),
            )

    for rule, n in sorted(shown.items()):
        if n > MAX_PEER_FINDINGS:
            rest = [groups[k][1] for k in groups if k[0] == rule]
            extra = n - MAX_PEER_FINDINGS
            ctx.add(
                rule,
                "%d more peers" % extra,
                "see the %d %s findings above" % (MAX_PEER_FINDINGS, rule),
                "%d more remote endpoints, %d connection(s) in all" % (extra, sum(len(r) for r in rest)),
                "%d more remote endpoints break the egress policy; list them with ss -tnp and fix the "
                "configuration of the programs above" % extra,
                source=_source(pol),
                match={},
                sortkey=("~", 65536, "more"),
            )
