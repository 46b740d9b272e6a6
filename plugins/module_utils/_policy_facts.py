# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The facts the engine reads: their shape checked (a PolicyEvalError names the field), the
connection list normalised (full or compact form).

This is a private module_utils file of netaudit.netstat, part of the policy engine whose entry
point is _policy.py; its API may change at any time. Standard library only, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netaudit.netstat.plugins.module_utils._common import (
    compact_rows,
    parse_compact_row,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_base import (
    PolicyEvalError,
    _is_int,
)


def normalise_connections(facts):
    """facts['connections'] as a list of dicts (full or compact form), or None when absent."""
    conns = facts.get("connections")
    if conns is None:
        return None
    processes = facts.get("processes") or {}
    if isinstance(conns, dict) and "columns" in conns:
        cols = list(conns.get("columns") or [])
        out = []
        for row in compact_rows(conns.get("rows")):
            try:
                rec = parse_compact_row(cols, row)
            except ValueError as exc:
                raise PolicyEvalError("facts: connections: %s" % exc)
            pids = rec.pop("pids", None) or []
            procs = []
            for pid in pids:
                proc = processes.get(str(pid)) or processes.get(pid)
                procs.append(proc if proc else {"pid": pid})
            rec["processes"] = procs
            out.append(rec)
        return out
    if isinstance(conns, list):
        if conns and isinstance(conns[0], dict) and "count" in conns[0] and "remote_port" not in conns[0]:
            return None  # summary form: no per-socket detail
        out = []
        for c in conns:
            if isinstance(c, dict):
                c = dict(c)
                c.setdefault("processes", [])
                out.append(c)
        return out
    return None


def _check(cond, where, what, value):
    if not cond:
        kind = "null" if value is None else type(value).__name__
        raise PolicyEvalError("facts: %s must be %s, not %s %s" % (where, what, kind, _short_repr(value)))


def _short_repr(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_port(value, where):
    _check(value is None or (_is_int(value) and 0 <= value <= 65535), where, "a port number (0-65535) or null", value)


def _check_processes(procs, where):
    _check(procs is None or isinstance(procs, list), where, "a list of process mappings", procs)
    for i, proc in enumerate(procs or []):
        _check(isinstance(proc, dict), "%s[%d]" % (where, i), "a process mapping", proc)
        for key in ("name", "exe", "user"):
            v = proc.get(key)
            _check(v is None or isinstance(v, str), "%s[%d].%s" % (where, i, key), "text or null", v)
        for key in ("pid", "uid"):
            v = proc.get(key)
            _check(v is None or _is_int(v), "%s[%d].%s" % (where, i, key), "an integer or null", v)


def _check_context(sock, where):
    """netns (an inode) and container ({id, name, image, ...}) of a socket, when present."""
    v = sock.get("netns")
    _check(v is None or _is_int(v), where + ".netns", "a namespace inode or null", v)
    cont = sock.get("container")
    _check(cont is None or (isinstance(cont, dict) and isinstance(cont.get("id"), str)), where + ".container",
           "a container mapping with an id, or null", cont)
    for key in ("name", "image"):
        if isinstance(cont, dict):
            _check(cont.get(key) is None or isinstance(cont.get(key), str), "%s.container.%s" % (where, key),
                   "text or null", cont.get(key))


def _check_count(value, where):
    _check(_is_int(value) and value >= 0, where, "a count (a whole number >= 0)", value)


def check_facts(facts):
    """Raise PolicyEvalError naming the first field of `facts` the engine cannot read (a state
    count that is text, a process that is a number, `listeners: 7`, a port of 70000, ...)."""
    collector = facts.get("collector")
    _check(collector is None or isinstance(collector, dict), "collector", "a mapping", collector)
    if isinstance(collector, dict):
        for key in ("reasons", "reason_codes"):
            v = collector.get(key)
            _check(v is None or isinstance(v, list), "collector.%s" % key, "a list", v)
    listeners = facts.get("listeners")
    _check(listeners is None or isinstance(listeners, list), "listeners", "a list of listener mappings", listeners)
    for i, lst in enumerate(listeners or []):
        where = "listeners[%d]" % i
        _check(isinstance(lst, dict), where, "a listener mapping", lst)
        _check_port(lst.get("port"), where + ".port")
        for key in ("proto", "family", "address", "user", "state"):
            v = lst.get(key)
            _check(v is None or isinstance(v, str), "%s.%s" % (where, key), "text or null", v)
        v = lst.get("inode")  # psutil's sockets have synthetic negative keys
        _check(v is None or _is_int(v), where + ".inode", "an integer or null", v)
        for key in ("uid", "recv_q", "backlog"):
            v = lst.get(key)
            _check(v is None or (_is_int(v) and v >= 0), "%s.%s" % (where, key), "a whole number >= 0 or null", v)
        _check_processes(lst.get("processes"), where + ".processes")
        v = lst.get("owner_unresolved")
        _check(v is None or isinstance(v, dict), where + ".owner_unresolved", "a mapping or null", v)
        _check_context(lst, where)
    published = facts.get("published")
    _check(published is None or isinstance(published, list), "published", "a list of port bindings", published)
    for i, pub in enumerate(published or []):
        where = "published[%d]" % i
        _check(isinstance(pub, dict), where, "a port binding mapping", pub)
        _check_port(pub.get("port"), where + ".port")
        _check_port(pub.get("container_port"), where + ".container_port")
        for key in ("proto", "family", "address"):
            v = pub.get(key)
            _check(v is None or isinstance(v, str), "%s.%s" % (where, key), "text or null", v)
        _check_context(pub, where)
    spaces = facts.get("namespaces")
    _check(spaces is None or isinstance(spaces, list), "namespaces", "a list of namespace mappings", spaces)
    for i, ns in enumerate(spaces or []):
        where = "namespaces[%d]" % i
        _check(isinstance(ns, dict), where, "a namespace mapping", ns)
        _check(ns.get("inode") is None or _is_int(ns.get("inode")), where + ".inode", "an integer", ns.get("inode"))
        for key in ("name",):
            _check(ns.get(key) is None or isinstance(ns.get(key), str), "%s.%s" % (where, key), "text or null", ns.get(key))
        for key in ("names", "containers"):
            _check(ns.get(key) is None or isinstance(ns.get(key), list), "%s.%s" % (where, key), "a list", ns.get(key))
        for j, c in enumerate(ns.get("containers") or []):
            _check(isinstance(c, dict) and isinstance(c.get("id"), str), "%s.containers[%d]" % (where, j),
                   "a container mapping with an id", c)
    counts = facts.get("counts")
    _check(counts is None or isinstance(counts, dict), "counts", "a mapping of protocol -> state counts", counts)
    for proto, table in (counts or {}).items():
        _check(isinstance(table, dict), "counts.%s" % proto, "a mapping of state -> count", table)
        for state, n in table.items():
            _check_count(n, "counts.%s.%s" % (proto, state))
    stats = facts.get("counts_stats")
    _check(stats is None or isinstance(stats, dict), "counts_stats", "a mapping", stats)
    for proto, table in (stats or {}).items():
        _check(isinstance(table, dict), "counts_stats.%s" % proto, "a mapping", table)
        for state, st in table.items():
            _check(isinstance(st, dict), "counts_stats.%s.%s" % (proto, state), "a mapping {min, max, last}", st)
            for key, n in st.items():
                _check_count(n, "counts_stats.%s.%s.%s" % (proto, state, key))
    unix = facts.get("unix")
    _check(unix is None or isinstance(unix, list), "unix", "a list of UNIX socket mappings", unix)
    for i, u in enumerate(unix or []):
        where = "unix[%d]" % i
        _check(isinstance(u, dict), where, "a UNIX socket mapping", u)
        for key in ("path", "type", "state"):
            v = u.get(key)
            _check(v is None or isinstance(v, str), "%s.%s" % (where, key), "text or null", v)
        v = u.get("mode")
        _check(v is None or (isinstance(v, str) and v.isdigit()) or _is_int(v), where + ".mode", "an octal mode or null", v)
        v = u.get("file_uid")
        _check(v is None or _is_int(v), where + ".file_uid", "an integer or null", v)
        _check_processes(u.get("processes"), where + ".processes")
        _check_context(u, where)
    conns = facts.get("connections")
    if isinstance(conns, list):
        for i, c in enumerate(conns):
            where = "connections[%d]" % i
            _check(isinstance(c, dict), where, "a connection mapping", c)
            _check_port(c.get("local_port"), where + ".local_port")
            _check_port(c.get("remote_port"), where + ".remote_port")
            for key in ("recv_q", "send_q", "count"):
                v = c.get(key)
                _check(v is None or (_is_int(v) and v >= 0), "%s.%s" % (where, key), "a whole number >= 0 or null", v)
            _check_processes(c.get("processes"), where + ".processes")
    elif isinstance(conns, dict):
        cols = conns.get("columns")
        _check(isinstance(cols, list) and all(isinstance(c, str) for c in cols), "connections.columns",
               "a list of column names", cols)
        rows = conns.get("rows")
        _check(rows is None or isinstance(rows, (str, list)), "connections.rows", "text (a line per socket) or a list", rows)
        procs = facts.get("processes")
        _check(procs is None or isinstance(procs, dict), "processes", "a mapping of pid -> process", procs)
        for pid, proc in (procs or {}).items():
            _check(isinstance(proc, dict), "processes.%s" % pid, "a process mapping", proc)
    else:
        _check(conns is None, "connections", "a list, the compact mapping or null", conns)
