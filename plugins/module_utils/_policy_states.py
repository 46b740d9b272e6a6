# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""State and queue limits (state-threshold, queue-threshold): per protocol and state, scoped to a
port, a program or network namespaces; accept and socket queues.

This is a private module_utils file of netaudit.netstat, part of the policy engine whose entry
point is _policy.py; its API may change at any time. Standard library only, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netaudit.netstat.plugins.module_utils._policy_base import (
    PolicyEvalError,
    _as_list,
    _endpoint,
    _is_int,
    _owners_text,
    _port_in,
    _ports_text,
    _program_matches,
    _program_names,
    _source,
    parse_ports,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_compose import (
    _iter_limits,
    _scoped,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_findings import (
    _listener_match,
    _listener_sortkey,
    _listener_subject,
    _programs_attr,
    _unknown_owner_severity,
)


def _count_scoped(ctx, proto, state, limit, listeners, conns):
    ports = parse_ports(limit["port"], ctx.services) if limit.get("port") is not None else None
    programs = [str(p) for p in _as_list(limit.get("program"))] or None
    n = 0
    socks = list(conns or [])
    if state in ("LISTEN",) or (proto == "udp" and state == "CLOSED"):
        socks = socks + [dict(x, local_port=x.get("port")) for x in listeners]
    for s in socks:
        if s.get("proto") != proto or s.get("state") != state:
            continue
        if ports is not None and not _port_in(s.get("local_port"), ports):
            continue
        if programs is not None and not _program_matches(programs, s.get("processes")):
            continue
        n += 1
    return n, ports, programs


def _eval_states(ctx, listeners, conns):
    counts = ctx.facts.get("counts") or {}
    stats = ctx.facts.get("counts_stats") or {}
    for proto, state, limit in _iter_limits(ctx.policy):
        if not isinstance(limit, dict):
            raise PolicyEvalError("states.%s.%s must be a mapping {max, min, severity}" % (proto, state))
        src = _source(limit)
        scope = ""
        if _scoped(limit):
            if conns is None and state not in ("LISTEN",):
                ctx.add(
                    "incomplete-facts",
                    "%s %s connections" % (proto, state),
                    "the connection list (gather with connections: compact or full)",
                    "connections: %s" % (ctx.facts.get("collector") or {}).get("connections", "absent"),
                    "the state limit at %s is scoped to a port or program, which needs the "
                    "connection list; gather facts with connections: compact" % (src or "states"),
                    source=src,
                    severity=_unknown_owner_severity(ctx),
                    match={"proto": proto, "state": state},
                    sortkey=(proto, 0, state),
                )
                continue
            bits = []
            if limit.get("port") is not None:
                bits.append("port %s" % _ports_text(parse_ports(limit["port"], ctx.services)))
            if limit.get("program") is not None:
                bits.append("program %s" % ",".join(str(p) for p in _as_list(limit["program"])))
            scope = " " + " ".join(bits)
        netns = [str(x) for x in _as_list(limit.get("netns"))] or None
        # (label, max, min) per namespace the limit is about: the primary one (the top-level
        # counts), or with `netns` each namespace it names (its own counts), judged separately
        values = []
        if netns is None:
            if scope:
                n = _count_scoped(ctx, proto, state, limit, [x for x in listeners if ctx.spaces.is_primary(x)],
                                  [c for c in conns or [] if ctx.spaces.is_primary(c)])[0]
                values.append((None, n, n))
            else:
                table = counts.get(proto)
                if not isinstance(table, dict) or state not in table:
                    continue
                st = (stats.get(proto) or {}).get(state)
                values.append((None, st.get("max", table[state]) if isinstance(st, dict) else table[state],
                               st.get("min", table[state]) if isinstance(st, dict) else table[state]))
        else:
            for inode in sorted(ctx.spaces.by_inode):
                probe = {"netns": inode}
                if not ctx.spaces.netns_matches(netns, probe):
                    continue
                label = ctx.spaces.label(probe)
                if scope:
                    n = _count_scoped(ctx, proto, state, limit, [x for x in listeners if x.get("netns") == inode],
                                      [c for c in conns or [] if c.get("netns") == inode])[0]
                else:
                    table = (ctx.spaces.by_inode[inode].get("counts") or {}).get(proto)
                    if not isinstance(table, dict) or not _is_int(table.get(state)):
                        continue
                    n = table[state]
                values.append((label, n, n))
        for label, value_max, value_min in values:
            _add_state_findings(ctx, proto, state, limit, src, scope, label, value_max, value_min,
                                bool(stats) and not scope and label is None)


def _add_state_findings(ctx, proto, state, limit, src, scope, label, value_max, value_min, sampled):
    """The state-threshold findings of one limit against one count (max over samples, min), in
    the namespace `label` (None: the primary one)."""
    scope = scope + (" (%s)" % label if label else "")
    subject = "%s %s%s" % (proto, state, scope)
    match = {"proto": proto, "state": state, "netns": label}
    if limit.get("port") is not None:
        match["port"] = parse_ports(limit["port"], ctx.services)[0][0]
    mx, mn = limit.get("max"), limit.get("min")
    sampled = " (max over samples)" if sampled else ""
    if mx is not None and value_max > mx:
        ctx.add(
            "state-threshold",
            subject,
            "at most %s" % mx,
            str(value_max),
            "%d %s sockets in %s%s%s, above the limit of %s set at %s; look for the process "
            "piling them up (ss -tanp state %s)"
            % (
                value_max,
                proto,
                state,
                scope,
                sampled,
                mx,
                src or "states",
                state.lower().replace("_", "-"),
            ),
            source=src,
            severity=limit.get("severity"),
            match=match,
            sortkey=(proto, 0, state),
        )
    if mn is not None and value_min < mn:
        ctx.add(
            "state-threshold",
            subject,
            "at least %s" % mn,
            str(value_min),
            "only %d %s sockets in %s%s, below the minimum of %s set at %s; check that the "
            "service is running and serving" % (value_min, proto, state, scope, mn, src or "states"),
            source=src,
            severity=limit.get("severity"),
            match=match,
            sortkey=(proto, 0, state),
        )


def _eval_queues(ctx, listeners, conns):
    queues = ctx.policy.get("queues") or {}
    lf = queues.get("listen_fill")
    if isinstance(lf, dict) and lf.get("max") is not None:
        ports = parse_ports(lf["port"], ctx.services) if lf.get("port") is not None else None
        programs = [str(p) for p in _as_list(lf.get("program"))] or None
        for lst in listeners:
            backlog = lst.get("backlog")
            if lst.get("proto") != "tcp" or not backlog:
                continue
            if ports is not None and not _port_in(lst.get("port"), ports):
                continue
            if programs is not None and not _program_matches(programs, lst.get("processes")):
                continue
            fill = float(lst.get("recv_q") or 0) / float(backlog)
            if fill > float(lf["max"]):
                subject = _listener_subject(lst)
                ctx.add(
                    "queue-threshold",
                    subject + " accept queue",
                    "accept queue fill at most %.0f%%" % (100 * float(lf["max"])),
                    "%d of %d (%.0f%%)" % (lst.get("recv_q") or 0, backlog, 100 * fill),
                    "the accept queue of %s (%s) is %.0f%% full (%d of %d); the service is not "
                    "accepting fast enough: check its workers, or raise the backlog"
                    % (
                        subject,
                        _owners_text(lst.get("processes")),
                        100 * fill,
                        lst.get("recv_q") or 0,
                        backlog,
                    ),
                    source=_source(lf),
                    severity=lf.get("severity"),
                    match=dict(_listener_match(lst)),
                    sortkey=_listener_sortkey(lst),
                )
    listen_ports = {(x.get("proto"), x.get("port")) for x in listeners}
    for key in ("recv_q", "send_q"):
        lim = queues.get(key)
        if not isinstance(lim, dict) or lim.get("max") is None:
            continue
        if conns is None:
            ctx.add(
                "incomplete-facts",
                "queues.%s" % key,
                "the connection list (gather with connections: compact or full)",
                "no connection list",
                "the %s limit at %s needs the connection list; gather facts with connections: "
                "compact" % (key, _source(lim) or "queues"),
                source=_source(lim),
                severity=_unknown_owner_severity(ctx),
                sortkey=("", 0, key),
            )
            continue
        ports = parse_ports(lim["port"], ctx.services) if lim.get("port") is not None else None
        programs = [str(p) for p in _as_list(lim.get("program"))] or None
        groups = {}
        for c in conns:
            if c.get("state") != "ESTABLISHED":
                continue
            value = c.get(key) or 0
            if value <= lim["max"]:
                continue
            if ports is not None and not (_port_in(c.get("local_port"), ports) or _port_in(c.get("remote_port"), ports)):
                continue
            if programs is not None and not _program_matches(programs, c.get("processes")):
                continue
            inbound = (c.get("proto"), c.get("local_port")) in listen_ports
            gk = (
                c.get("proto"),
                c.get("local_port") if inbound else None,
                tuple(_program_names(c.get("processes"))),
            )
            groups.setdefault(gk, []).append(c)
        for (proto, lport, progs), items in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or 0, kv[0][2])):
            worst = max(items, key=lambda c: c.get(key) or 0)
            where = ("port %s" % lport) if lport is not None else "outbound"
            subject = "%s %s %s" % (proto, where, key)
            if progs:
                subject += " (%s)" % ",".join(progs)
            ctx.add(
                "queue-threshold",
                subject,
                "%s at most %s on established connections" % (key, lim["max"]),
                "%d connection(s) over, worst %d (%s -> %s)"
                % (
                    len(items),
                    worst.get(key) or 0,
                    _endpoint(worst.get("local_address"), worst.get("local_port")),
                    _endpoint(worst.get("remote_address"), worst.get("remote_port")),
                ),
                "%d established %s connection(s) on %s have %s above %s (limit at %s); %s"
                % (
                    len(items),
                    proto,
                    where,
                    key,
                    lim["max"],
                    _source(lim) or "queues",
                    "the application is not reading its socket"
                    if key == "recv_q"
                    else "the peer or the network is not keeping up",
                ),
                source=_source(lim),
                severity=lim.get("severity"),
                match={"proto": proto, "port": lport, "programs": _programs_attr(
                    [p for c in items for p in c.get("processes") or []])},
                sortkey=(proto or "", lport or 0, key),
            )
