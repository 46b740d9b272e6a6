# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Where a socket lives and who runs it, as a policy names them: network namespace, container,
image, systemd unit. The matchers `netns:`, `container:`, `image:` and `unit:` of listener,
UNIX and egress entries, state limits and waivers are judged here.

This is a private module_utils file of netaudit.netstat; its API may change at any time.

Scope of an entry:

- with `netns:` it is about the sockets of the namespaces it names: ``host`` (the namespace of
  the host's pid 1), ``primary`` (the first namespace gathered: the module's own, or the first
  selector), ``any``, or a name glob (a ``/run/netns`` name, a container's name) or an inode;
- with `container:` or `image:` and no `netns:`, about the sockets of those containers wherever
  they are (their own namespace, or the host's with ``--network host``);
- with neither, about the sockets of the primary namespace: what the entry meant before
  namespaces were gathered, and what it means on a host whose facts have one namespace.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch


def _glob(patterns, values):
    for pattern in patterns:
        for value in values:
            if value is not None and fnmatch.fnmatchcase(str(value), str(pattern)):
                return True
    return False


class Spaces(object):
    """The namespaces of one host's facts: which is primary, which is the host's, their names."""

    def __init__(self, facts):
        collector = facts.get("collector") if isinstance(facts.get("collector"), dict) else {}
        self.primary = collector.get("primary_netns")
        if not isinstance(self.primary, int) or isinstance(self.primary, bool):
            self.primary = None
        self.by_inode = {}
        for ns in facts.get("namespaces") or []:
            if isinstance(ns, dict) and isinstance(ns.get("inode"), int):
                self.by_inode[ns["inode"]] = ns
        self.host = None
        for inode, ns in self.by_inode.items():
            if ns.get("host") is True:
                self.host = inode
        self.multi = len(self.by_inode) > 1

    def netns_of(self, sock):
        inode = sock.get("netns") if isinstance(sock, dict) else None
        return inode if isinstance(inode, int) and not isinstance(inode, bool) else None

    def is_primary(self, sock):
        inode = self.netns_of(sock)
        return inode is None or self.primary is None or inode == self.primary

    def label(self, sock):
        """None for a socket of the primary namespace, else the name a person reads (the
        namespace's name, or ``netns INODE``)."""
        if self.is_primary(sock):
            return None
        inode = self.netns_of(sock)
        ns = self.by_inode.get(inode) or {}
        return ns.get("name") if isinstance(ns.get("name"), str) and ns.get("name") else "netns %d" % inode

    def netns_matches(self, patterns, sock):
        inode = self.netns_of(sock)
        ns = self.by_inode.get(inode) or {}
        values = []
        if inode is not None:
            values.append(str(inode))
        for key in ("name",):
            if isinstance(ns.get(key), str):
                values.append(ns[key])
        values.extend(n for n in ns.get("names") or [] if isinstance(n, str))
        values.extend(c.get("name") for c in ns.get("containers") or [] if isinstance(c, dict) and c.get("name"))
        for pattern in patterns:
            if pattern == "any":
                return True
            if pattern == "host" and (inode is None or inode == self.host or (self.host is None and self.is_primary(sock))):
                return True
            if pattern == "primary" and self.is_primary(sock):
                return True
            if _glob([pattern], values):
                return True
        return False


NO_SPACES = Spaces({})


def socket_containers(sock):
    """The containers a socket belongs to: its own `container` (the gatherer's: owner, namespace
    or the one a docker-proxy forwards to) and those of its processes, without repeats."""
    out = []
    seen = set()
    cands = [sock.get("container")] if isinstance(sock, dict) else []
    for proc in (sock.get("processes") or []) if isinstance(sock, dict) else []:
        if isinstance(proc, dict):
            cands.append(proc.get("container"))
    for cont in cands:
        if isinstance(cont, dict) and isinstance(cont.get("id"), str) and cont["id"] not in seen:
            seen.add(cont["id"])
            out.append(cont)
    return out


def container_labels(containers):
    """The names (ids where the runtime gave no name) of containers, sorted."""
    return sorted({c.get("name") if isinstance(c.get("name"), str) and c.get("name") else c["id"][:12] for c in containers})


def context_mismatch(label, patterns, sock, processes):
    """(expected, actual) when `sock` breaks the `label` matcher (unit, container, image), None
    when it meets it; actual None when it cannot be told (no owner known and nothing else names
    it, or a container whose name the runtime did not give)."""
    expected = "%s %s" % (label, ",".join(patterns))
    if label == "unit":
        if not processes:
            return expected, None
        values = sorted({p["unit"] for p in processes if isinstance(p, dict) and isinstance(p.get("unit"), str)})
        return None if _glob(patterns, values) else (expected, ",".join(values) or "none")
    containers = socket_containers(dict(sock or {}, processes=processes))
    if not containers:
        if not processes:
            return expected, None
        return expected, "not in a container"
    if label == "container":
        values = []
        for c in containers:
            values.extend([c["id"], c["id"][:12], c.get("name")])
        if _glob(patterns, values):
            return None
        if any(not c.get("name") for c in containers):
            return expected, None  # the runtime did not name it: neither met nor broken
        return expected, ",".join(container_labels(containers))
    images = [c.get("image") for c in containers]
    if _glob(patterns, images):
        return None
    if any(not c.get("image") for c in containers):
        return expected, None
    return expected, ",".join(sorted({i for i in images if i}))
