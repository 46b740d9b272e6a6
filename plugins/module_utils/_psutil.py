# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The psutil backend, for platforms without /proc. psutil is optional and imported once here.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
psutil gives no queues, inodes or socket uids: those fields are None.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import traceback

from ansible_collections.netaudit.netstat.plugins.module_utils._common import (
    BackendUnavailable,
    InetSocket,
    UnixSocket,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._owners import user_name

PSUTIL_IMPORT_ERROR = None
try:
    import psutil
except ImportError:
    psutil = None
    PSUTIL_IMPORT_ERROR = traceback.format_exc()

# psutil's CONN_* constants are the state names without underscores in a few places.
_STATES = {
    "ESTABLISHED": "ESTABLISHED",
    "SYN_SENT": "SYN_SENT",
    "SYN_RECV": "SYN_RECV",
    "FIN_WAIT1": "FIN_WAIT1",
    "FIN_WAIT2": "FIN_WAIT2",
    "TIME_WAIT": "TIME_WAIT",
    "CLOSE": "CLOSED",
    "CLOSE_WAIT": "CLOSE_WAIT",
    "LAST_ACK": "LAST_ACK",
    "LISTEN": "LISTEN",
    "CLOSING": "CLOSING",
    "NONE": "CLOSED",
}


class PsutilBackend:
    """psutil.net_connections(); owners come with the connections (provides_pids)."""

    name = "psutil"
    provides_pids = True

    def __init__(self):
        self.unreadable = 0
        self._pids = {}
        self._key_seq = 0
        self._info = {}

    def check(self):
        if psutil is None:
            raise BackendUnavailable("the Python library psutil is not installed on the managed host")

    def _connections(self, kind):
        try:
            return psutil.net_connections(kind)
        except psutil.AccessDenied:
            # macOS and others need root for the system-wide table: fall back to our processes.
            self.unreadable += 1
            return []

    def _next_key(self, pids):
        # psutil has no inode: give each socket a negative synthetic key so owners can be mapped.
        self._key_seq -= 1
        self._pids[self._key_seq] = pids
        return self._key_seq

    def inet_sockets(self, protocols=("tcp", "udp"), families=("ipv4", "ipv6"), states=None):
        import socket

        groups = {}
        for conn in self._connections("inet"):
            proto = "tcp" if conn.type == socket.SOCK_STREAM else "udp"
            family = "ipv4" if conn.family == socket.AF_INET else "ipv6"
            if proto not in protocols or family not in families:
                continue
            state = _STATES.get(conn.status, "UNKNOWN")
            if proto == "udp":
                state = "ESTABLISHED" if conn.raddr else "CLOSED"
            if states is not None and state not in states:
                continue
            laddr = conn.laddr or ("", 0)
            raddr = conn.raddr or (("0.0.0.0" if family == "ipv4" else "::"), 0)
            key = (proto, family, state, laddr[0], laddr[1], raddr[0], raddr[1], getattr(conn, "fd", -1) if conn.pid is None else None)
            groups.setdefault(key, set())
            if conn.pid is not None:
                groups[key].add(conn.pid)
        for key, pids in groups.items():
            proto, family, state, laddr, lport, raddr, rport, _fd = key
            inode = self._next_key(sorted(pids))
            yield InetSocket(proto, family, state, laddr, lport, raddr, rport, None, None, None, inode,
                             None, None, None, sorted(pids))

    def unix_sockets(self):
        import socket

        types = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram", socket.SOCK_SEQPACKET: "seqpacket"}
        for conn in self._connections("unix"):
            path = conn.laddr or None
            abstract = bool(path) and path.startswith("\0")
            if abstract:
                path = "@" + path[1:].replace("\0", "@")
            state = "LISTENING" if conn.status == "LISTEN" else ("CONNECTED" if conn.raddr else "UNCONNECTED")
            pids = [conn.pid] if conn.pid is not None else []
            inode = self._next_key(pids)
            yield UnixSocket(types.get(conn.type, str(conn.type)), state, ["ACC"] if state == "LISTENING" else [],
                             None, inode, path, abstract, None, None, None, pids)

    def pid_map(self):
        return dict((k, v) for k, v in self._pids.items() if v)

    def process(self, pid):
        info = self._info.get(pid)
        if info is not None:
            return info
        info = {"pid": pid, "ppid": None, "name": None, "exe": None, "cmdline": None, "uid": None, "user": None}
        try:
            proc = psutil.Process(pid)
            with proc.oneshot():
                info["name"] = proc.name()
                info["ppid"] = proc.ppid()
                try:
                    info["uid"] = proc.uids().real
                except (AttributeError, psutil.Error):
                    pass
                try:
                    info["exe"] = proc.exe() or None
                    info["cmdline"] = " ".join(proc.cmdline())
                except psutil.Error:
                    pass
        except psutil.Error:
            pass
        info["user"] = user_name(info["uid"])
        self._info[pid] = info
        return info


def running_as_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0
