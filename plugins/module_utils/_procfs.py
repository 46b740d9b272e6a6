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
import stat
import struct
import sys

from ansible_collections.netaudit.netstat.plugins.module_utils._common import (
    lstat_host_path,
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
    addr_len = 8 if family == "ipv4" else 32
    for lineno, line in enumerate(lines, 1):
        if lineno == 1:
            continue  # header
        fields = line.split()
        if not fields:
            continue
        try:
            if len(fields) < 10:
                raise ValueError("expected at least 10 fields, found %d" % len(fields))
            if not _HEX2.match(fields[3]):
                raise ValueError("the state field is not 2 hex digits")
            state = tcp_state_name(int(fields[3], 16))
            if states is not None and state not in states:
                continue
            # Only what the kernel can write (net/ipv4/tcp_ipv4.c get_tcp4_sock and friends):
            # int() alone would take signs, underscores and values no field can hold.
            if not (_ENDPOINT.match(fields[1]) and _ENDPOINT.match(fields[2])) or len(fields[1]) != addr_len + 5 \
                    or len(fields[2]) != addr_len + 5:
                raise ValueError("address:port fields are not %d hex digits, a colon and 4 hex digits" % addr_len)
            if not _QUEUES.match(fields[4]):
                raise ValueError("the queue field is not tx:rx as 8 hex digits each")
            if not _DEC.match(fields[7]) or not _DEC.match(fields[9]) or int(fields[7]) > _MAX_UID or int(fields[9]) > _MAX_INODE:
                raise ValueError("uid or inode out of range (uid < 2^32, inode < 2^64)")
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


_ENDPOINT = re.compile(r"^[0-9A-Fa-f]+:[0-9A-Fa-f]{4}$")
_HEX2 = re.compile(r"^[0-9A-Fa-f]{2}$")
_QUEUES = re.compile(r"^[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8}$")
_DEC = re.compile(r"^[0-9]{1,20}$")
_MAX_UID = 2 ** 32 - 1
_MAX_INODE = 2 ** 64 - 1

# "Num: RefCount Protocol Flags Type St Inode[ Path]", as net/unix/af_unix.c unix_seq_show() writes
# it: "%pK: %08X %08X %08X %04X %02X %5lu", then " " and the path, byte by byte, then "\n".
_UNIX_LINE = re.compile(
    r"^(?:[0-9A-Fa-f]{8}|[0-9A-Fa-f]{16}): ([0-9A-Fa-f]{8}) ([0-9A-Fa-f]{8}) ([0-9A-Fa-f]{8}) ([0-9A-Fa-f]{4}) "
    r"([0-9A-Fa-f]{2}) +([0-9]{1,20})(?: (.*))?$"
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


def parse_unix_lines(lines, path, errors=None, is_socket=None, joined=None):
    """Yield UnixSocket records from the lines of /proc/net/unix.

    The kernel (net/unix/af_unix.c, unix_seq_show) writes one line per socket,
    ``"%pK: %08X %08X %08X %04X %02X %5lu"`` then a space and the path byte by byte, then a
    newline, and escapes nothing: a path holding a newline continues on the next line, and what
    follows the newline can be anything its creator chose, a whole line in this very shape
    included. The format itself cannot tell such a forged line from a real socket. So:

    - a following line that does not start like a record (``Num:`` of 8 or 16 hex digits) is a
      continuation and is joined back;
    - a following line that does look like a record, after a socket bound to a path, is joined
      when `is_socket(path + "\n" + line)` says that longer name is a socket on the file system
      (the real name wins over the forgery, and the line number goes to `joined`, a list);
      otherwise it is taken as a record. For an abstract name (no file to look at) the table
      stays ambiguous: a forged line there adds a socket that does not exist, it cannot hide one.

    The netlink backend (sock_diag) gives each path as a length-prefixed attribute and has none
    of this: `auto` prefers it. Abstract names are printed with a leading '@' (NUL bytes inside
    them as '@' too). Lines outside the kernel's format are errors (ParseError, or appended to
    `errors`).
    """
    pending = None
    for lineno, line in enumerate(lines, 1):
        if lineno == 1:
            continue
        text = line[:-1] if line.endswith("\n") else line
        if pending is not None and pending[5] and not _is_unix_record_start(text):
            # continuation of a path that contained a newline (only a socket with a path can
            # continue: the kernel writes nothing after the inode of an unbound one)
            pending[5] = pending[5] + "\n" + text
            continue
        if pending is not None and pending[5] and _UNIX_LINE.match(text):
            longer = pending[5] + "\n" + text
            if is_socket is not None and not pending[5].startswith("@") and is_socket(longer):
                pending[5] = longer  # the real socket's name holds this line: not a record
                if joined is not None:
                    joined.append(lineno)
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


def _is_socket_file(text_path):
    """Whether a UNIX socket path (as the table's text, non-UTF-8 bytes escaped) is a socket file."""
    st = lstat_host_path(text_path)[0]
    return st is not None and stat.S_ISSOCK(st.st_mode)


class ProcfsBackend:
    """Reads the kernel's text tables under <proc_root>/net (the network namespace of the reader)."""

    name = "procfs"

    def __init__(self, proc_root="/proc"):
        self.proc_root = proc_root
        self.errors = []
        self.unix_joined = []  # /proc/net/unix lines found to be part of a socket's name

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
            yield from parse_unix_lines(f, path, self.errors, is_socket=_is_socket_file, joined=self.unix_joined)
