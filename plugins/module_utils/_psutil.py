# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The psutil backend, for platforms without /proc. psutil is optional and imported once here.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
psutil gives no queues, inodes or socket uids: those fields are None.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible_collections.netaudit.netstat.plugins.module_utils._common import (
    host_text,
    BackendUnavailable,
    InetSocket,
    UnixSocket,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._cgroup import read_cgroup
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
        self._denied = set()
        self.unreadable_pids = self._denied  # the pids whose sockets could not be listed
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

    def _owners_by_key(self, kind):
        """psutil.net_connections() lists a shared socket once; ask each process for its own."""
        owners = {}
        for proc in psutil.process_iter():
            try:
                method = getattr(proc, "net_connections", None) or proc.connections
                conns = method(kind)
            except psutil.NoSuchProcess:
                continue
            except psutil.AccessDenied:
                self._denied.add(proc.pid)
                self.unreadable = len(self._denied)
                continue
            for conn in conns:
                owners.setdefault(self._conn_key(conn), set()).add(proc.pid)
        return owners

    @staticmethod
    def _conn_key(conn):
        return (conn.family, conn.type, tuple(conn.laddr or ()), tuple(conn.raddr or ()), conn.status)

    def inet_sockets(self, protocols=("tcp", "udp"), families=("ipv4", "ipv6"), states=None):
        import socket

        owners = self._owners_by_key("inet")
        seen = set()
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
            key = self._conn_key(conn)
            if key in seen and conn.pid is not None:
                continue
            seen.add(key)
            pids = sorted(owners.get(key, ()) or ([conn.pid] if conn.pid is not None else []))
            laddr = conn.laddr or ("", 0)
            raddr = conn.raddr or (("0.0.0.0" if family == "ipv4" else "::"), 0)
            # A TIME_WAIT socket belongs to no process (its inode is 0 in the kernel too).
            inode = self._next_key(pids) if state != "TIME_WAIT" else 0
            yield InetSocket(proto, family, state, laddr[0], laddr[1], raddr[0], raddr[1], None, None, None, inode,
                             None, None, None, pids)

    def unix_sockets(self):
        import socket

        types = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram", socket.SOCK_SEQPACKET: "seqpacket"}
        owners = self._owners_by_key("unix")
        seen = set()
        for conn in self._connections("unix"):
            key = self._conn_key(conn)
            if conn.laddr and key in seen:
                continue
            seen.add(key)
            path = host_text(conn.laddr)[0] if conn.laddr else None  # no lone surrogates in the facts
            # psutil gives abstract names either raw (NUL first) or as /proc/net/unix prints them
            abstract = bool(path) and path[0] in ("\0", "@")
            if abstract:
                path = "@" + path[1:].replace("\0", "@")
            # psutil gives no state for UNIX sockets (status NONE): a bound, unconnected stream socket
            # is taken as listening, which is what it almost always is.
            if conn.status == "LISTEN" or (conn.type != socket.SOCK_DGRAM and conn.laddr and not conn.raddr):
                state = "LISTENING"
            else:
                state = "CONNECTED" if conn.raddr else "UNCONNECTED"
            pids = sorted(owners.get(key, ()) if conn.laddr else ([conn.pid] if conn.pid is not None else []))
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
        for key in ("name", "exe", "cmdline"):
            # psutil decodes with surrogateescape: lone surrogates would make the facts invalid
            info[key], raw_hex = host_text(info[key])
            if raw_hex is not None:
                info[key + "_hex"] = raw_hex
        cg = read_cgroup("/proc", pid)  # Linux only; elsewhere there is no cgroup to read
        info["unit"] = cg["unit"] if cg else None
        info["container"] = cg["container"] if cg else None
        self._info[pid] = info
        return info
