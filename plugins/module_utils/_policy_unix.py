# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""UNIX socket rules: allowed and denied paths, world-writable sockets.

This is a private module_utils file of netaudit.netstat, part of the policy engine whose entry
point is _policy.py; its API may change at any time. Standard library only, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netaudit.netstat.plugins.module_utils._policy_base import (
    SEVERITY_RANK,
    _as_list,
    _glob_match,
    _owners_text,
    _source,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_entry import (
    compiled_entries,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_findings import (
    Lazy,
    LazyFields,
    _add_unresolved,
    _context_fields,
    _owner_unresolved,
    _programs_attr,
    _users_attr,
)


def _unix_sockets(facts):
    """UNIX sockets grouped by namespace and path (bound sockets only)."""
    by_path = {}
    for s in facts.get("unix") or []:
        path = s.get("path")
        if not path:
            continue
        netns = s.get("netns") if isinstance(s.get("netns"), int) else None
        cur = by_path.get((netns or 0, path))
        if cur is None:
            cur = by_path[(netns or 0, path)] = {
                "netns": netns,
                "container": s.get("container"),
                "path": path,
                "types": [],
                "states": [],
                "processes": [],
                "mode": None,
                "file_uid": None,
                "abstract": bool(s.get("abstract")) or path.startswith("@"),
                "owner_unresolved": None,
            }
        if isinstance(s.get("owner_unresolved"), dict) and cur["owner_unresolved"] is None:
            cur["owner_unresolved"] = s["owner_unresolved"]
        if s.get("type") and s["type"] not in cur["types"]:
            cur["types"].append(s["type"])
        if s.get("state") and s["state"] not in cur["states"]:
            cur["states"].append(s["state"])
        for p in s.get("processes") or []:
            if p.get("pid") not in [q.get("pid") for q in cur["processes"]]:
                cur["processes"].append(p)
        if s.get("mode") is not None and cur["mode"] is None:
            cur["mode"] = s["mode"]
        if s.get("file_uid") is not None and cur["file_uid"] is None:
            cur["file_uid"] = s["file_uid"]
    for cur in by_path.values():
        ww = False
        if cur["mode"] is not None:
            try:
                mode = int(str(cur["mode"]), 8) if not isinstance(cur["mode"], int) else cur["mode"]
                ww = bool(mode & 0o002)
            except ValueError:
                ww = False
        cur["world_writable"] = ww
        cur["processes"].sort(key=lambda p: p.get("pid") or 0)
    return [by_path[k] for k in sorted(by_path)]


def _eval_unix(ctx):
    pol = ctx.policy.get("unix") or {}
    default = pol.get("default", "allow")
    allow = compiled_entries(ctx, "unix", "allow")
    deny = compiled_entries(ctx, "unix", "deny")
    ww = pol.get("world_writable") or {}
    ww_sev = ww.get("severity")
    ww_allow = [str(p) for p in _as_list(ww.get("allow"))]
    # Only rules on program or user need a UNIX socket's owner (path, type and mode do not).
    owner_rules = any(e.programs is not None or e.users is not None for e in allow + deny)
    for sock in _unix_sockets(ctx.facts):
        label = ctx.spaces.label(sock)
        subject = "unix %s%s" % (sock["path"], " (%s)" % label if label else "")
        owners = Lazy(lambda sock=sock: _owners_text(sock["processes"]))
        unresolved = _owner_unresolved(ctx, sock) if owner_rules else None

        def fields(sock=sock):
            users, uids = _users_attr(None, sock.get("file_uid"), sock["processes"])
            return {
                "path": sock["path"],
                "programs": _programs_attr(sock["processes"]),
                "proto": "unix",
                "users": users,
                "uids": uids,
                **_context_fields(sock, sock["processes"], ctx.spaces)
            }

        match = LazyFields(fields)
        skey = ("unix", 0, sock["path"])
        denied = [d for d in deny if d.matches_unix(sock)]
        allowed = [a for a in allow if a.matches_unix(sock, unresolved is not None)]
        if unresolved is not None and not any(a.allow_unresolved for a in allowed):
            _add_unresolved(ctx, subject, match, unresolved, "UNIX socket", skey, "path: %s" % sock["path"])
        best_deny = (
            max(denied, key=lambda e: (e.layer, -SEVERITY_RANK.get(e.severity or "error", 0), -e.index)) if denied else None
        )
        best_allow = max(allowed, key=lambda e: (e.layer, -e.index)) if allowed else None
        mode_txt = " mode %s" % sock["mode"] if sock["mode"] is not None else ""
        if best_deny is not None and (best_allow is None or best_deny.layer >= best_allow.layer):
            why = " (%s)" % best_deny.reason if best_deny.reason else ""
            ctx.add(
                "forbidden-unix-socket",
                subject,
                "absent: forbidden by %s%s" % (best_deny.describe(), why),
                "present%s, %s" % (mode_txt, owners),
                "the UNIX socket %s%s is forbidden by the rule at %s%s; remove it or fix its "
                "permissions (held by %s)" % (sock["path"], mode_txt, best_deny.where(), why, owners),
                source=best_deny.source,
                severity=best_deny.severity,
                match=match,
                sortkey=skey,
            )
            continue
        if best_allow is None and default == "deny":
            ctx.add(
                "unexpected-unix-socket",
                subject,
                "no socket (no unix allow rule matches; unix.default: deny)",
                "present%s, %s" % (mode_txt, owners),
                "the UNIX socket %s (%s) matches no allow rule; remove it or add an unix allow entry" % (sock["path"], owners),
                source=_source(pol, "default") or _source(pol),
                match=match,
                sortkey=skey,
            )
        if sock["world_writable"] and ww_sev != "ignore" and not _glob_match(ww_allow, [sock["path"]]):
            if best_allow is not None and best_allow.world_writable is True:
                continue  # explicitly allowed to be world-writable
            ctx.add(
                "world-writable-unix-socket",
                subject,
                "not writable by all users (mode o-w)",
                "mode %s" % sock["mode"],
                "the UNIX socket %s is world-writable (mode %s, held by %s): any local user can "
                "connect to it; tighten its mode or add it to unix.world_writable.allow" % (sock["path"], sock["mode"], owners),
                source=_source(ww) or _source(pol),
                severity=ww_sev,
                match=match,
                sortkey=skey,
            )
