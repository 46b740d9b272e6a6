# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The procfs backend: /proc/net/{tcp,tcp6,udp,udp6,unix} parsed the way netstat reads them.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
Standard library only: it runs on the managed host (Python 3.8+).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import socket
import struct
import sys

from ansible_collections.netaudit.netstat.plugins.module_utils._common import (
    BackendUnavailable,
    InetSocket,
    ParseError,
    UNIX_FLAG_ACC,
    UNIX_TYPES,
    UnixSocket,
    tcp_state_name,
    unix_state_name,
)

# kind -> (file under <proc>/net, proto, family); the psutil way (_pslinux.NetConnections).
INET_TABLES = (
    ("tcp", "tcp", "ipv4"),
    ("tcp6", "tcp", "ipv6"),
    ("udp", "udp", "ipv4"),
    ("udp6", "udp", "ipv6"),
)

_LITTLE = sys.byteorder == "little"


def decode_address(hexaddr, family):
    """'0100007F' -> '127.0.0.1'; the kernel prints each 32-bit word in host byte order."""
    if family == "ipv4":
        raw = struct.pack("=I", int(hexaddr, 16))
        return socket.inet_ntop(socket.AF_INET, raw)
    if len(hexaddr) != 32:
        raise ValueError("IPv6 address must be 32 hex digits")
    raw = b"".join(struct.pack("=I", int(hexaddr[i:i + 8], 16)) for i in (0, 8, 16, 24))
    return socket.inet_ntop(socket.AF_INET6, raw)


_ADDR_CACHE = {}


def _address(hexaddr, family):
    text = _ADDR_CACHE.get(hexaddr)
    if text is None:
        text = decode_address(hexaddr, family)
        if len(_ADDR_CACHE) < 65536:
            _ADDR_CACHE[hexaddr] = text
    return text


def parse_inet_lines(lines, path, proto, family, states=None, errors=None):
    """Yield InetSocket records from the lines of a /proc/net/{tcp,udp}[6] file.

    `lines` iterates over text lines, the header included. `states` is None or a set of state
    names to keep. A malformed line raises ParseError naming `path` and the line number, unless
    `errors` is a list: then the error is appended there and the line skipped.
    """
    for lineno, line in enumerate(lines, 1):
        if lineno == 1:
            continue  # header
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) < 10:
                raise ValueError("expected at least 10 fields, found %d" % len(fields))
            state = tcp_state_name(int(fields[3], 16))
            if states is not None and state not in states:
                continue
            laddr, lport = fields[1].split(":")
            raddr, rport = fields[2].split(":")
            tx_queue, rx_queue = fields[4].split(":")
            record = InetSocket(
                proto,
                family,
                state,
                _address(laddr, family),
                int(lport, 16),
                _address(raddr, family),
                int(rport, 16),
                int(rx_queue, 16),
                int(tx_queue, 16),
                int(fields[7]),
                int(fields[9]),
                None,
                None,
                None,
                None,
            )
        except (ValueError, IndexError, struct.error) as exc:
            error = ParseError(path, lineno, "malformed socket line (%s): %r" % (exc, line.rstrip("\n")[:200]))
            if errors is None:
                raise error
            errors.append(str(error))
            continue
        yield record


# "Num: RefCount Protocol Flags Type St Inode[ Path]"; the kernel prints one space before the path.
_UNIX_LINE = re.compile(
    r"^[0-9A-Fa-f]+: ([0-9A-Fa-f]+) ([0-9A-Fa-f]+) ([0-9A-Fa-f]+) ([0-9A-Fa-f]+) ([0-9A-Fa-f]+) +([0-9]+)(?: (.*))?$"
)


def _is_unix_record_start(line):
    head = line.split(":", 1)[0]
    if not head or len(head) < 8 or " " in head:
        return False
    try:
        int(head, 16)
    except ValueError:
        return False
    return True


def parse_unix_lines(lines, path, errors=None):
    """Yield UnixSocket records from the lines of /proc/net/unix.

    The kernel prints the path raw, so a path with a newline continues on the next line; such a
    continuation (a line that does not start with the 'Num:' column) is joined back. Abstract names
    are printed with a leading '@' (NUL bytes inside them as '@' too).
    """
    pending = None
    for lineno, line in enumerate(lines, 1):
        if lineno == 1:
            continue
        text = line[:-1] if line.endswith("\n") else line
        if pending is not None and not _is_unix_record_start(text):
            # continuation of a path that contained a newline
            pending[5] = (pending[5] or "") + "\n" + text
            continue
        if pending is not None:
            yield _unix_record(pending)
            pending = None
        if not text.strip():
            continue
        match = _UNIX_LINE.match(text)
        if match is None:
            error = ParseError(path, lineno, "malformed unix socket line: %r" % text[:200])
            if errors is None:
                raise error
            errors.append(str(error))
            continue
        refcnt = int(match.group(1), 16)
        flags = int(match.group(3), 16)
        stype = int(match.group(4), 16)
        st = int(match.group(5), 16)
        inode = int(match.group(6))
        sockpath = match.group(7)
        pending = [refcnt, flags, stype, st, inode, sockpath]
    if pending is not None:
        yield _unix_record(pending)


def _unix_record(p):
    refcnt, flags, stype, st, inode, sockpath = p
    abstract = bool(sockpath) and sockpath.startswith("@")
    return UnixSocket(
        UNIX_TYPES.get(stype, str(stype)),
        unix_state_name(st, flags),
        ["ACC"] if flags & UNIX_FLAG_ACC else [],
        refcnt,
        inode,
        sockpath or None,
        abstract,
        None,
        None,
        None,
        None,
    )


def _open_lines(path):
    # The kernel tables are ASCII except for UNIX paths; keep undecodable bytes visible.
    return open(path, "r", encoding="utf-8", errors="backslashreplace", newline="\n")


class ProcfsBackend:
    """Reads the kernel's text tables under <proc_root>/net (the network namespace of the reader)."""

    name = "procfs"

    def __init__(self, proc_root="/proc"):
        self.proc_root = proc_root
        self.errors = []

    def check(self):
        path = os.path.join(self.proc_root, "net", "tcp")
        if not os.path.exists(path):
            raise BackendUnavailable("%s does not exist (no Linux procfs here)" % path)
        if not os.access(path, os.R_OK):
            raise BackendUnavailable("%s is not readable" % path)

    def inet_sockets(self, protocols=("tcp", "udp"), families=("ipv4", "ipv6"), states=None):
        for kind, proto, family in INET_TABLES:
            if proto not in protocols or family not in families:
                continue
            path = os.path.join(self.proc_root, "net", kind)
            try:
                f = _open_lines(path)
            except (IOError, OSError) as exc:
                if family == "ipv6" and not os.path.exists(path):
                    continue  # IPv6 disabled in this kernel: nothing to report
                raise BackendUnavailable("cannot read %s: %s" % (path, exc))
            with f:
                yield from parse_inet_lines(f, path, proto, family, states, self.errors)

    def unix_sockets(self):
        path = os.path.join(self.proc_root, "net", "unix")
        try:
            f = _open_lines(path)
        except (IOError, OSError) as exc:
            if not os.path.exists(path):
                return
            raise BackendUnavailable("cannot read %s: %s" % (path, exc))
        with f:
            yield from parse_unix_lines(f, path, self.errors)
