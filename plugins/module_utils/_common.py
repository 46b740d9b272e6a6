# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Shared vocabulary of the socket gatherers: states, records, address helpers.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
Standard library only: it runs on the managed host (Python 3.8+).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

import collections
import ipaddress
import os

# The container runtimes' API sockets asked by default (module_utils._containers), and the programs
# of theirs that hold a published port or a container's sockets on the host: kept here so that a
# gather on a host without containers does not import _containers.
CONTAINER_SOCKETS = ("/var/run/docker.sock", "/run/podman/podman.sock")
RUNTIME_PROGRAMS = frozenset(("docker-proxy", "dockerd", "rootlessport", "conmon", "podman"))

# Kernel TCP states, include/net/tcp_states.h, with the names netstat prints.
# TCP_NEW_SYN_RECV (12) is a request socket; netstat and ss count it as SYN_RECV.
TCP_STATES = {
    1: "ESTABLISHED",
    2: "SYN_SENT",
    3: "SYN_RECV",
    4: "FIN_WAIT1",
    5: "FIN_WAIT2",
    6: "TIME_WAIT",
    7: "CLOSED",
    8: "CLOSE_WAIT",
    9: "LAST_ACK",
    10: "LISTEN",
    11: "CLOSING",
    12: "SYN_RECV",
}

# The 12 names netstat uses, in the order it documents them; every counts table has all of them.
STATE_NAMES = (
    "LISTEN",
    "SYN_SENT",
    "SYN_RECV",
    "ESTABLISHED",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "CLOSE_WAIT",
    "LAST_ACK",
    "TIME_WAIT",
    "CLOSING",
    "CLOSED",
    "UNKNOWN",
)

# UNIX socket states (include/uapi/linux/net.h socket_state), as netstat -x prints them
# (netstat leaves SS_UNCONNECTED blank; we name it).
UNIX_STATES = {
    0: "FREE",
    1: "UNCONNECTED",
    2: "CONNECTING",
    3: "CONNECTED",
    4: "DISCONNECTING",
}
UNIX_STATE_NAMES = ("LISTENING", "CONNECTED", "UNCONNECTED", "CONNECTING", "DISCONNECTING", "FREE")

# UNIX socket types (include/linux/net.h).
UNIX_TYPES = {1: "stream", 2: "dgram", 3: "raw", 4: "rdm", 5: "seqpacket"}

# __SO_ACCEPTCON in /proc/net/unix Flags: a listening socket (netstat's ACC flag).
UNIX_FLAG_ACC = 0x10000

PROTOCOLS = ("tcp", "udp", "unix")
FAMILIES = ("ipv4", "ipv6")

# Connection modes of the facts module; see netstat_facts' `connections` option.
CONNECTION_MODES = ("none", "counts", "summary", "full", "compact")


class NetstatError(Exception):
    """A failure the module reports with fail_json (no traceback)."""


class ParseError(NetstatError):
    """A malformed line in a kernel table; names the file and line."""

    def __init__(self, path, lineno, message):
        self.path = path
        self.lineno = lineno
        super(ParseError, self).__init__("%s:%d: %s" % (path, lineno, message))


class BackendUnavailable(NetstatError):
    """The backend cannot run on this host; the message says why."""


# One TCP or UDP socket as a backend reports it.
#   proto: "tcp" | "udp"; family: "ipv4" | "ipv6"; state: one of STATE_NAMES
#   local_address/remote_address: text form ("127.0.0.1", "::1", "::ffff:10.0.0.1")
#   recv_q/send_q: ints as netstat shows them (for a TCP listener recv_q is the accept
#     queue length and send_q is 0)
#   backlog: a TCP listener's accept-queue limit (netlink only; None when unknown)
#   v6only: for IPv6 sockets, True/False when known, else None
#   interface: device name the socket is bound / scoped to, or None
#   pids: list of owning pids when the backend knows them (psutil), else None
InetSocket = collections.namedtuple(
    "InetSocket",
    "proto family state local_address local_port remote_address remote_port "
    "recv_q send_q uid inode backlog v6only interface pids",
)

# One UNIX domain socket.
#   type is "stream" | "dgram" | "seqpacket" | ...; state: one of UNIX_STATE_NAMES
#   flags: list of flag names (["ACC"] for listening sockets)
#   path: filesystem path, "@name" for abstract names, or None when unbound
#   abstract: True for abstract names
#   peer: peer inode (netlink only) or None; recv_q/send_q: netlink only, else None
UnixSocket = collections.namedtuple(
    "UnixSocket",
    "type state flags refcnt inode path abstract peer recv_q send_q pids",
)


def host_text(raw):
    """(text, hex) for bytes a host gave us (a name, an executable path, a command line, a socket
    path). Valid UTF-8 is the text as it is and hex is None. Anything else is decoded with every
    invalid byte as ``\\xNN`` (so the facts stay JSON that ansible-core accepts: no lone
    surrogates) and hex holds the original bytes, which makes the text unambiguous (a literal
    backslash-x and an escaped byte differ by the hex being there) and reversible."""
    if raw is None:
        return None, None
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), raw.hex()


_HEX_ESCAPE = re.compile(r"\\x([0-9a-f]{2})")


def unescape_host_text(text):
    """The bytes host_text() escaped back from its text (\\xNN -> the byte), for a file system
    lookup when no hex was kept; other text is encoded as UTF-8."""
    out = bytearray()
    pos = 0
    for m in _HEX_ESCAPE.finditer(text):
        out += text[pos:m.start()].encode("utf-8", "surrogateescape")
        out.append(int(m.group(1), 16))
        pos = m.end()
    out += text[pos:].encode("utf-8", "surrogateescape")
    return bytes(out)


def lstat_host_path(text, root=None):
    """(os.lstat result, original bytes or None) of a path given as host_text() text: by the text
    first, then, when it holds \\xNN escapes, by the bytes they stand for. (None, None) when
    neither is on the file system. With `root` (``/proc/PID/root``), the path is looked up under
    it: the file system that process sees."""
    prefix = root.rstrip("/") if root else ""
    try:
        return os.lstat(prefix + text), None
    except (OSError, ValueError):
        pass
    if "\\x" in text:
        raw = unescape_host_text(text)
        try:
            return os.lstat(prefix.encode() + raw), raw
        except (OSError, ValueError):
            pass
    return None, None


def empty_counts(protocols=PROTOCOLS):
    """A counts table with every state present and zero."""
    counts = {}
    for proto in protocols:
        names = UNIX_STATE_NAMES if proto == "unix" else STATE_NAMES
        counts[proto] = dict((name, 0) for name in names)
    return counts


def tcp_state_name(code):
    return TCP_STATES.get(code, "UNKNOWN")


def unix_state_name(code, flags):
    if flags & UNIX_FLAG_ACC:
        return "LISTENING"
    return UNIX_STATES.get(code, "UNCONNECTED")


def read_port_range(proc_root="/proc"):
    """The kernel's ephemeral port range (net.ipv4.ip_local_port_range)."""
    try:
        with open(proc_root + "/sys/net/ipv4/ip_local_port_range") as f:
            low, high = f.read().split()
        return int(low), int(high)
    except (OSError, IOError, ValueError):
        return 32768, 60999


def is_listener(sock, port_range=None):
    """netstat -l: TCP in LISTEN; UDP bound and unconnected, ephemeral client ports excluded.

    `port_range` is (low, high) of ip_local_port_range, or None to count every bound
    unconnected UDP socket as a listener.
    """
    if sock.proto == "tcp":
        return sock.state == "LISTEN"
    if sock.remote_port or sock.local_port == 0 or sock.state == "ESTABLISHED":
        return False
    if port_range is not None and port_range[0] <= sock.local_port <= port_range[1]:
        return False
    return True


_EXPOSURE_CACHE = {}


# normalise_ip() of the addresses seen (a host has few, a policy evaluation asks for each of them
# once per rule): text -> ipaddress object or None, bounded
_NORMALISED = {}
_NORMALISED_MAX = 65536


def normalise_ip(address):
    """The ipaddress object of a socket address text ("::ffff:10.0.0.1" -> 10.0.0.1, scope and
    brackets dropped), or None when it is not an address."""
    if address is None:
        return None
    try:
        return _NORMALISED[address]
    except (KeyError, TypeError):
        pass
    try:
        ip = ipaddress.ip_address(str(address).split("%", 1)[0].strip("[]"))
    except ValueError:
        ip = None
    if ip is not None and ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if isinstance(address, str) and len(_NORMALISED) < _NORMALISED_MAX:
        _NORMALISED[address] = ip
    return ip


def ip_exposure(ip):
    """The exposure class of an ipaddress object (None: unknown)."""
    if ip is None:
        return "unknown"
    if ip.is_unspecified:
        return "wildcard"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if ip.is_private:
        return "private"
    return "public"


def exposure(address):
    """Classify a bind address: loopback, wildcard, link-local, private, multicast, public."""
    cached = _EXPOSURE_CACHE.get(address)
    if cached is not None:
        return cached
    result = ip_exposure(normalise_ip(address))
    if len(_EXPOSURE_CACHE) < 4096:
        _EXPOSURE_CACHE[address] = result
    return result


# The compact connection list: `columns` names the fields and `rows` is one text block, a line per
# socket with the values separated by single spaces ("-" for none; `pids` comma-separated). One
# string for the whole list keeps a 100k-socket result cheap to serialise and to move through Ansible.
COMPACT_COLUMNS = (
    "proto", "family", "state", "local_address", "local_port", "remote_address",
    "remote_port", "recv_q", "send_q", "inode", "uid", "pids",
)
_COMPACT_INTS = frozenset(("local_port", "remote_port", "recv_q", "send_q", "inode", "uid"))


def compact_row(sock, pids):
    """One InetSocket (and its owner pids) as a compact row string."""
    if sock.recv_q is not None and sock.send_q is not None and sock.uid is not None and sock.inode is not None:
        return "%s %s %s %s %d %s %d %d %d %d %d %s" % (
            sock.proto, sock.family, sock.state, sock.local_address, sock.local_port,
            sock.remote_address, sock.remote_port, sock.recv_q, sock.send_q, sock.inode, sock.uid,
            (str(pids[0]) if len(pids) == 1 else ",".join(str(p) for p in pids)) if pids else "-",
        )
    return "%s %s %s %s %d %s %d %s %s %s %s %s" % (
        sock.proto, sock.family, sock.state, sock.local_address, sock.local_port,
        sock.remote_address, sock.remote_port,
        "-" if sock.recv_q is None else sock.recv_q,
        "-" if sock.send_q is None else sock.send_q,
        "-" if sock.inode is None else sock.inode,
        "-" if sock.uid is None else sock.uid,
        ",".join(str(p) for p in pids) if pids else "-",
    )


def compact_rows(rows):
    """The rows of a compact connection list: the text block split in lines (a list is taken as is)."""
    if isinstance(rows, str):
        return rows.splitlines()
    return list(rows or [])


def parse_compact_row(columns, row):
    """A compact row (string, or a list of values) as a dict keyed by `columns`; pids a list of ints."""
    if isinstance(row, str):
        values = row.split(" ")
        if len(values) != len(columns):
            raise ValueError("compact row has %d values for %d columns: %r" % (len(values), len(columns), row[:200]))
        rec = {}
        for name, value in zip(columns, values):
            if value == "-":
                rec[name] = [] if name == "pids" else None
            elif name == "pids":
                rec[name] = [int(p) for p in value.split(",")]
            elif name in _COMPACT_INTS:
                rec[name] = int(value)
            else:
                rec[name] = value
        return rec
    rec = dict(zip(columns, row))
    if rec.get("pids") is None and "pids" in columns:
        rec["pids"] = []
    return rec
