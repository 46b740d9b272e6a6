# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""One allow/deny entry of listeners, egress or unix, compiled once: what it is about (anchor,
scope) and how a socket differs from it (mismatches).

This is a private module_utils file of netaudit.netstat, part of the policy engine whose entry
point is _policy.py; its API may change at any time. Standard library only, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netaudit.netstat.plugins.module_utils import _scope
from ansible_collections.netaudit.netstat.plugins.module_utils._policy_base import (
    LAYER_KEY,
    PolicyEvalError,
    _as_list,
    _bind_matches,
    _exposure,
    _glob_match,
    _norm_addr,
    _port_in,
    _ports_text,
    _program_matches,
    _program_names,
    _source,
    _user_matches,
    parse_bind,
    parse_cidrs,
    parse_ports,
)


class Entry(object):
    """One allow/deny entry of listeners, egress or unix, compiled once."""

    def __init__(self, raw, section, kind, services, index, spaces=None):
        self.raw = raw
        self.spaces = spaces or _scope.NO_SPACES
        self.section = section
        self.kind = kind
        self.index = index
        self.layer = raw.get(LAYER_KEY, 0) if isinstance(raw, dict) else 0
        self.source = _source(raw)
        if not isinstance(raw, dict):
            raise PolicyEvalError("%s.%s[%d] must be a mapping" % (section, kind, index))
        try:
            self.protos = [str(p).lower() for p in _as_list(raw.get("proto"))]
            if "any" in self.protos:
                self.protos = []
            self.family = raw.get("family")
            self.ports = parse_ports(raw["port"], services) if raw.get("port") is not None else None
            self.bind = parse_bind(raw["bind"]) if raw.get("bind") is not None else None
            self.cidrs = parse_cidrs(raw["cidr"]) if raw.get("cidr") is not None else None
        except PolicyEvalError as exc:
            raise PolicyEvalError(
                "%s.%s[%d]%s: %s"
                % (
                    section,
                    kind,
                    index,
                    " (%s)" % self.source if self.source else "",
                    exc,
                )
            )
        self.programs = [str(p) for p in _as_list(raw.get("program"))] or None
        self.users = [str(u) for u in _as_list(raw.get("user"))] or None
        self.units = [str(u) for u in _as_list(raw.get("unit"))] or None
        self.containers = [str(c) for c in _as_list(raw.get("container"))] or None
        self.images = [str(c) for c in _as_list(raw.get("image"))] or None
        self.netns = [str(c) for c in _as_list(raw.get("netns"))] or None
        self.paths = [str(p) for p in _as_list(raw.get("path"))] or None
        self.types = [str(t) for t in _as_list(raw.get("type"))] or None
        self.world_writable = raw.get("world_writable")
        self.required = bool(raw.get("required", False))
        # an allow entry may accept a socket whose owner could not be read (incomplete-facts)
        self.allow_unresolved = bool(raw.get("allow_unresolved", False))
        self.reason = raw.get("reason")
        self.severity = raw.get("severity")

    def where(self):
        return self.source or "%s.%s[%d]" % (self.section, self.kind, self.index)

    def describe(self):
        parts = []
        if self.protos:
            parts.append("/".join(self.protos))
        if self.family:
            parts.append(self.family)
        if self.ports is not None:
            parts.append("port %s" % _ports_text(self.ports))
        if self.cidrs is not None:
            parts.append("peer %s" % ",".join(str(v) for dummy, v in self.cidrs))
        if self.bind is not None:
            parts.append("bind %s" % ",".join(str(v) for dummy, v in self.bind))
        if self.paths:
            parts.append("path %s" % ",".join(self.paths))
        if self.types:
            parts.append("type %s" % ",".join(self.types))
        if self.programs:
            parts.append("program %s" % ",".join(self.programs))
        if self.users:
            parts.append("user %s" % ",".join(self.users))
        if self.units:
            parts.append("unit %s" % ",".join(self.units))
        if self.containers:
            parts.append("container %s" % ",".join(self.containers))
        if self.images:
            parts.append("image %s" % ",".join(self.images))
        if self.netns:
            parts.append("netns %s" % ",".join(self.netns))
        if self.world_writable is not None:
            parts.append("world-writable" if self.world_writable else "not world-writable")
        return " ".join(parts) or "anything"

    # listeners: "anchor" = what identifies the socket the entry is about; "checks" = the rest
    def in_scope(self, sock):
        """Whether the socket is in the namespaces the entry is about (see _scope)."""
        if self.netns is not None:
            return self.spaces.netns_matches(self.netns, sock)
        if self.containers is not None or self.images is not None:
            return True
        return self.spaces.is_primary(sock)

    def listener_anchor(self, lst, owner_unknown=False):
        """Whether the entry is about this listener. With `owner_unknown`, an entry anchored by
        program alone may be about it (its owner could not be read)."""
        if not self.in_scope(lst):
            return False
        if self.protos and lst.get("proto") not in self.protos:
            return False
        if self.family and lst.get("family") != self.family:
            return False
        if self.ports is not None:
            return _port_in(lst.get("port"), self.ports)
        if self.programs is not None:
            if owner_unknown and not lst.get("processes"):
                return True
            return bool(_program_matches(self.programs, lst.get("processes")))
        if self.bind is not None:
            return _bind_matches(self.bind, lst.get("address"))
        return True

    def listener_mismatches(self, lst):
        """[(rule, expected, actual)] for the checks beyond the anchor ([] = full match)."""
        out = []
        if self.bind is not None and not _bind_matches(self.bind, lst.get("address")):
            out.append(
                (
                    "wrong-bind",
                    "bind %s" % ",".join(str(v) for dummy, v in self.bind),
                    "%s (%s)" % (lst.get("address"), _exposure(_norm_addr(lst.get("address")))),
                )
            )
        if self.programs is not None and self.ports is not None:
            m = _program_matches(self.programs, lst.get("processes"))
            if m is None:
                out.append(("wrong-owner", "program %s" % ",".join(self.programs), None))
            elif not m:
                out.append(
                    (
                        "wrong-owner",
                        "program %s" % ",".join(self.programs),
                        ",".join(_program_names(lst.get("processes"))),
                    )
                )
        if self.users is not None and not _user_matches(self.users, lst.get("user"), lst.get("uid"), lst.get("processes")):
            users = sorted(
                set(
                    [str(lst.get("user") if lst.get("user") is not None else lst.get("uid"))]
                    + [str(p.get("user")) for p in lst.get("processes") or [] if p.get("user") is not None]
                )
            )
            out.append(("wrong-user", "user %s" % ",".join(self.users), ",".join(users)))
        out.extend(self.owner_context_mismatches(lst.get("processes"), lst))
        return out

    def owner_context_mismatches(self, processes, sock=None):
        """[(rule, expected, actual)] for `unit`, `container` and `image`; actual None when it
        cannot be told (no owner known, a container the runtime did not name): neither met nor
        broken."""
        out = []
        for attr, label in (("units", "unit"), ("containers", "container"), ("images", "image")):
            patterns = getattr(self, attr)
            if patterns is None:
                continue
            miss = _scope.context_mismatch(label, patterns, sock, processes)
            if miss is not None:
                out.append(("wrong-owner", miss[0], miss[1]))
        return out

    def owner_context_matches(self, processes, sock=None):
        return not self.owner_context_mismatches(processes, sock)

    def deny_matches_listener(self, lst):
        if not self.listener_anchor(lst):
            return False
        if self.bind is not None and not _bind_matches(self.bind, lst.get("address")):
            return False
        if self.programs is not None and not _program_matches(self.programs, lst.get("processes")):
            return False
        if self.users is not None and not _user_matches(self.users, lst.get("user"), lst.get("uid"), lst.get("processes")):
            return False
        return self.owner_context_matches(lst.get("processes"), lst)

    def matches_conn_peer(self, conn):
        if not self.in_scope(conn):
            return False
        if self.protos and conn.get("proto") not in self.protos:
            return False
        if self.family and conn.get("family") != self.family:
            return False
        if self.cidrs is not None and not _bind_matches(self.cidrs, conn.get("remote_address")):
            return False
        if self.ports is not None and not _port_in(conn.get("remote_port"), self.ports):
            return False
        if self.programs is not None and not _program_matches(self.programs, conn.get("processes")):
            return False
        if self.users is not None and not _user_matches(self.users, conn.get("user"), conn.get("uid"), conn.get("processes")):
            return False
        return self.owner_context_matches(conn.get("processes"), conn)

    def matches_unix(self, sock, owner_unknown=False):
        """Whether the entry matches the UNIX socket; with `owner_unknown`, program and user
        checks count as met (the owner could not be read: incomplete-facts says so)."""
        if not self.in_scope(sock):
            return False
        if self.paths is not None and not _glob_match(self.paths, [sock["path"]]):
            return False
        if owner_unknown:
            return not (self.types is not None and not set(self.types) & set(sock["types"])) and not (
                self.world_writable is not None and bool(self.world_writable) != bool(sock["world_writable"])
            )
        if self.types is not None and not set(self.types) & set(sock["types"]):
            return False
        if self.world_writable is not None and bool(self.world_writable) != bool(sock["world_writable"]):
            return False
        if self.programs is not None and not _program_matches(self.programs, sock["processes"]):
            return False
        if self.users is not None and not _user_matches(self.users, None, sock.get("file_uid"), sock["processes"]):
            return False
        return self.owner_context_matches(sock["processes"], sock)


COMPILED_KEY = "__compiled__"


def compiled_entries(ctx, section, kind):
    """The compiled entries of `section.kind` of the merged policy, compiled once per merged
    policy (a fleet evaluated against one policy compiles it once) and pointed at this host's
    namespaces."""
    cache = ctx.policy.get(COMPILED_KEY) if isinstance(ctx.policy.get(COMPILED_KEY), dict) else None
    if cache is None:
        cache = ctx.policy[COMPILED_KEY] = {}
    key = (section, kind)
    entries = cache.get(key)
    if entries is None:
        pol = ctx.policy.get(section) or {}
        entries = cache[key] = [Entry(e, section, kind, ctx.services, i) for i, e in enumerate(pol.get(kind) or [])]
    for entry in entries:
        entry.spaces = ctx.spaces
    return entries
