# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""NETLINK_SOCK_DIAG backend: TCP/UDP sockets from inet_diag, UNIX sockets from unix_diag.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
Standard library only (socket, struct): it runs on the managed host (Python 3.8+, Linux).

What it asks the kernel for, and why:

- one dump per (protocol, family) with SOCK_DIAG_BY_FAMILY and an ``idiag_states`` bitmask, so a
  listeners-only gather (TCP ``LISTEN``, UDP ``CLOSED``) makes the kernel skip every
  connection instead of handing 100k of them to Python;
- no optional extensions (``idiag_ext = 0``): the kernel still sends INET_DIAG_SKV6ONLY for
  AF_INET6 sockets in LISTEN or CLOSE (the only attribute this backend reads);
- for UNIX sockets UDIAG_SHOW_NAME | VFS | PEER | RQLEN.

Differences from /proc/net/* that the facts consumer should know about:

- ``refcnt`` of UNIX sockets is not available over netlink: it is always None.
- a TCP listener's ``send_q`` is 0 and its accept-queue limit is in ``backlog`` (``ss`` prints
  the limit as Send-Q); ``recv_q`` is the current accept queue.
- a UNIX listener's ``send_q`` is its backlog limit and ``recv_q`` the pending connections
  (as ``ss -x`` prints them; netlink has no other queue figures for listeners).
- UNIX states come from the kernel's ``sk_state`` (as ``ss -x`` shows them): both ends of a
  datagram ``connect()`` are CONNECTED, as /proc/net/unix shows them on current kernels.
- TIME_WAIT and SYN_RECV (request) sockets have inode 0 and no owner, as in /proc.

The decoders (``decode_inet_messages``, ``decode_unix_messages``, ``decode_state_counts``) are
pure functions over the bytes of one or more replies so that tests can run them on captured
binary fixtures; malformed input raises ``NetlinkParseError`` naming the byte offset.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import struct
import sys

from ansible_collections.netaudit.netstat.plugins.module_utils import _common

# include/uapi/linux/netlink.h, sock_diag.h, inet_diag.h, unix_diag.h
NETLINK_SOCK_DIAG = 4
NLMSG_NOOP = 1
NLMSG_ERROR = 2
NLMSG_DONE = 3
NLMSG_OVERRUN = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_ROOT = 0x100
NLM_F_MATCH = 0x200
NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH

AF_INET = 2
AF_INET6 = 10
AF_UNIX = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17

INET_DIAG_SKV6ONLY = 11

UNIX_DIAG_NAME = 0
UNIX_DIAG_VFS = 1
UNIX_DIAG_PEER = 2
UNIX_DIAG_RQLEN = 4
UDIAG_SHOW_NAME = 0x01
UDIAG_SHOW_VFS = 0x02
UDIAG_SHOW_PEER = 0x04
UDIAG_SHOW_RQLEN = 0x10
UNIX_SHOW = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN

# Kernel socket states used in sock_diag bitmasks (include/net/tcp_states.h).
TCP_ESTABLISHED = 1
TCP_SYN_SENT = 2
TCP_SYN_RECV = 3
TCP_CLOSE = 7
TCP_LISTEN = 10
TCP_NEW_SYN_RECV = 12
# Every state 1..12 (NEW_SYN_RECV included). Not bit 13: TCP_BOUND_INACTIVE (Linux 6.5+) asks
# for bound-but-inactive sockets, which neither ss -a nor /proc/net/tcp list.
ALL_STATES = 0x1FFE

# State name -> bitmask of the kernel states reported under that name.
_STATE_BITS = {}
for _code, _name in _common.TCP_STATES.items():
    _STATE_BITS[_name] = _STATE_BITS.get(_name, 0) | (1 << _code)
del _code, _name

# Precomputed code -> name tables (index by the state byte).
_TCP_STATE_BY_CODE = tuple(_common.tcp_state_name(i) for i in range(256))
_UNIX_STATE_BY_CODE = tuple(
    {
        TCP_ESTABLISHED: "CONNECTED",
        TCP_SYN_SENT: "CONNECTING",
        TCP_CLOSE: "UNCONNECTED",
        TCP_LISTEN: "LISTENING",
    }.get(i, "UNCONNECTED")
    for i in range(256)
)

_UNIX_TYPE_BY_CODE = tuple(_common.UNIX_TYPES.get(i, "unknown") for i in range(256))

_PROTO_NUMBERS = {"tcp": IPPROTO_TCP, "udp": IPPROTO_UDP}
_FAMILY_NUMBERS = {"ipv4": AF_INET, "ipv6": AF_INET6}

# nlmsghdr: len, type, flags, seq, pid
_NLMSGHDR = struct.Struct("=IHHII")
_NLHDR_LEN_TYPE = struct.Struct("=IH")
_NLMSGHDR_SIZE = 16
# nlmsghdr + inet_diag_req_v2 (family, protocol, ext, pad, states, inet_diag_sockid)
_INET_REQ = struct.Struct("=IHHIIBBBBIHH16s16sI8s")
# nlmsghdr + unix_diag_req (family, protocol, pad, states, ino, show, cookie)
_UNIX_REQ = struct.Struct("=IHHIIBBHIII8s")

# nlmsghdr (len, type; flags, seq, pid skipped) + inet_diag_msg: family, state, (timer,
# retrans), sport[2], dport[2], src, dst, if, (cookie, expires), rqueue, wqueue, uid, inode.
# Ports are big-endian: read as two bytes each. IPv4 addresses are the first 4 of 16 bytes.
_INET_MSG4 = struct.Struct("=IH10xBB2xBBBB4s12x4s12xI12xIIII")
_INET_MSG6 = struct.Struct("=IH10xBB2xBBBB16s16sI12xIIII")
INET_MSG_SIZE = _INET_MSG6.size  # 88 = 16 + sizeof(struct inet_diag_msg)
# nlmsghdr + unix_diag_msg: family, type, state, pad, ino, cookie
_UNIX_MSG = struct.Struct("=IH10xBBBxI8x")
UNIX_MSG_SIZE = _UNIX_MSG.size  # 32
_RTA = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
_U32X2 = struct.Struct("=II")

RECV_BUFSIZE = 1 << 16
SO_RCVBUF_SIZE = 1 << 20


class NetlinkError(_common.NetstatError):
    """The kernel answered a sock_diag request with an error (NLMSG_ERROR)."""

    def __init__(self, err, what="sock_diag request"):
        self.errno = err
        try:
            text = os.strerror(err)
        except (ValueError, OverflowError):
            text = "unknown error"
        super().__init__(f"{what} failed: [Errno {err}] {text}")


class NetlinkParseError(_common.ParseError):
    """A malformed sock_diag reply; names the byte offset of the bad message."""

    def __init__(self, what, offset, message):
        super().__init__(what, offset, message)
        self.offset = offset
        self.args = (f"malformed {what} reply at offset {offset}: {message}",)


_IFNAME_CACHE = {}


def interface_name(index):
    """Name of a network interface by index (cached); the number as text when unknown."""
    name = _IFNAME_CACHE.get(index)
    if name is None:
        try:
            name = socket.if_indextoname(index)
        except (OSError, ValueError, AttributeError):
            name = str(index)
        _IFNAME_CACHE[index] = name
    return name


def _check_error(buf, off, mlen, what):
    """Decode an NLMSG_ERROR message; raise NetlinkError unless it is an ACK."""
    if mlen < _NLMSGHDR_SIZE + 4:
        raise NetlinkParseError(
            what, off, f"NLMSG_ERROR message too short ({mlen} bytes)"
        )
    err = -_I32.unpack_from(buf, off + _NLMSGHDR_SIZE)[0]
    if err and not 0 < err < 4096:  # the kernel's errnos are 1..4095 (MAX_ERRNO)
        raise NetlinkParseError(what, off, f"NLMSG_ERROR carries an impossible error code {-err}")
    if err:
        raise NetlinkError(err, what + " request")


def _check_done(buf, off, mlen, what):
    """NLMSG_DONE of a dump carries the dump's status: a negative errno means it failed."""
    if mlen >= _NLMSGHDR_SIZE + 4:
        err = -_I32.unpack_from(buf, off + _NLMSGHDR_SIZE)[0]
        if err >= 4096 or err < -4096:
            raise NetlinkParseError(what, off, f"NLMSG_DONE carries an impossible status {-err}")
        if err > 0:
            raise NetlinkError(err, what + " dump")


def _bad_length(buf, off, end, need, struct_name, what):
    """Raise the NetlinkParseError that describes a message with an impossible length."""
    mlen = _next_header(buf, off, end, what)[0]  # raises for truncation / a tiny length
    raise NetlinkParseError(what, off, f"{struct_name} too short (length {mlen}, need {need})")


def _next_header(buf, off, end, what):
    """Length and type of the message at `off`, checked against the buffer."""
    if end - off < _NLMSGHDR_SIZE:
        raise NetlinkParseError(
            what, off, f"truncated message header ({end - off} of 16 bytes)"
        )
    mlen, mtype = _NLHDR_LEN_TYPE.unpack_from(buf, off)
    if mlen < _NLMSGHDR_SIZE:
        raise NetlinkParseError(
            what, off, f"message length {mlen} is shorter than its header"
        )
    if mlen > end - off:
        raise NetlinkParseError(
            what, off, f"truncated message (length {mlen}, {end - off} bytes left)"
        )
    return mlen, mtype


def decode_inet_messages(buf, proto="tcp", ifname=interface_name):
    """Decode inet_diag replies (one or more concatenated recv buffers).

    Returns ``(records, done)``: a list of ``_common.InetSocket`` and whether NLMSG_DONE was
    seen. `proto` is the protocol the dump was for (inet_diag_msg does not carry it); `ifname`
    maps an interface index to a name. Raises NetlinkError for NLMSG_ERROR and
    NetlinkParseError for malformed input.
    """
    records, done, _unowned = _decode_inet(buf, proto, ifname, None, None, None, None)
    return records, done


def decode_inet_rows(buf, proto, owners, tally, keep, ifname=interface_name, pid_text=None):
    """Decode inet_diag replies straight into compact rows (``_common.COMPACT_COLUMNS``).

    The speed path of a full connection list at 100k sockets: no record is kept per socket.
    Returns ``(rows, done, unowned)``: the row strings, whether NLMSG_DONE was seen, and how many
    rows have an inode but no owner in `owners`. Every socket's state code is counted in `tally`
    (a list of 256). Sockets that may be listeners (TCP LISTEN, and UDP sockets with no remote
    port) become no row: they are appended to `keep` as ``_common.InetSocket`` records, for the
    caller to apply the listener rule.

    `owners` maps an inode to a pid or a tuple of pids (``_owners.OwnerResolver.resolve``);
    `pid_text` (a dict) caches the text of each owner value met. Malformed input raises exactly
    as ``decode_inet_messages`` does.
    """
    return _decode_inet(buf, proto, ifname, owners, tally, keep, {} if pid_text is None else pid_text)


def _decode_inet(buf, proto, ifname, owners, tally, keep, pid_text):
    """The inet_diag decoder behind decode_inet_messages (`owners` None: a record per socket)
    and decode_inet_rows (a row per socket, records only for possible listeners).

    This is the speed path (one pass per socket on a busy host): the message header and the
    fixed inet_diag_msg are checked for every message; attributes are walked (and checked)
    only where one is read, i.e. INET_DIAG_SKV6ONLY of AF_INET6 sockets in LISTEN or CLOSE.
    """
    what = "inet_diag"
    out = []
    append = out.append
    rows_mode = owners is not None
    if rows_mode:
        owner_of = owners.get
        records = keep
    else:
        records = out
    new = tuple.__new__
    cls = _common.InetSocket
    states = _TCP_STATE_BY_CODE
    ntop = socket.inet_ntop
    addr4 = _ADDR4_CACHE
    addr6 = _ADDR6_CACHE
    if len(addr4) > 65536:
        addr4.clear()
    if len(addr6) > 65536:
        addr6.clear()
    hdr = _NLHDR_LEN_TYPE.unpack_from
    unpack4 = _INET_MSG4.unpack_from
    unpack6 = _INET_MSG6.unpack_from
    listen = TCP_LISTEN if proto == "tcp" else -1
    udp = proto == "udp"
    prefix4 = proto + " ipv4 "
    prefix6 = proto + " ipv6 "
    unowned = 0
    end = len(buf)
    off = 0
    while off < end:
        if end - off < _NLMSGHDR_SIZE:
            _next_header(buf, off, end, what)  # raises: truncated header
        mlen, mtype = hdr(buf, off)
        if mlen > end - off or (
            mlen < INET_MSG_SIZE and (mtype == SOCK_DIAG_BY_FAMILY or mlen < _NLMSGHDR_SIZE)
        ):
            _bad_length(buf, off, end, INET_MSG_SIZE, "inet_diag_msg", what)
        if mtype == SOCK_DIAG_BY_FAMILY:
            fam = buf[off + 16]
            if fam == AF_INET:
                _mlen, _mtype, _fam, st, s0, s1, d0, d1, src, dst, ifx, rq, wq, uid, ino = unpack4(buf, off)
                family = "ipv4"
                prefix = prefix4
                laddr = addr4.get(src)
                if laddr is None:
                    laddr = addr4[src] = ntop(AF_INET, src)
                raddr = addr4.get(dst)
                if raddr is None:
                    raddr = addr4[dst] = ntop(AF_INET, dst)
            elif fam == AF_INET6:
                _mlen, _mtype, _fam, st, s0, s1, d0, d1, src, dst, ifx, rq, wq, uid, ino = unpack6(buf, off)
                family = "ipv6"
                prefix = prefix6
                laddr = addr6.get(src)
                if laddr is None:
                    laddr = addr6[src] = ntop(AF_INET6, src)
                raddr = addr6.get(dst)
                if raddr is None:
                    raddr = addr6[dst] = ntop(AF_INET6, dst)
                if ifx:
                    # Scoped (link-local) addresses carry the interface: fe80::1%eth0.
                    if src[0] == 0xFE and src[1] & 0xC0 == 0x80:
                        laddr = laddr + "%" + ifname(ifx)
                    if dst[0] == 0xFE and dst[1] & 0xC0 == 0x80:
                        raddr = raddr + "%" + ifname(ifx)
            else:
                raise NetlinkParseError(what, off, f"unexpected address family {fam}")
            if rows_mode and st != listen and (d0 or d1 or not udp):
                # a connection: its row, owners included
                tally[st] += 1
                owner = owner_of(ino)  # inode 0 (TIME_WAIT, requests) is never in the map
                if owner is None:
                    pids = "-"
                    if ino:
                        unowned += 1
                else:
                    pids = pid_text.get(owner)
                    if pids is None:
                        pids = pid_text[owner] = (
                            str(owner) if isinstance(owner, int) else ",".join(str(p) for p in owner)
                        )
                append(f"{prefix}{states[st]} {laddr} {(s0 << 8) | s1} {raddr} {(d0 << 8) | d1} "
                       f"{rq} {wq} {ino} {uid} {pids}")
            else:
                if rows_mode:
                    tally[st] += 1
                v6only = None
                if fam == AF_INET6 and (st == TCP_LISTEN or st == TCP_CLOSE):
                    v6only = _inet_v6only(buf, off + INET_MSG_SIZE, off + mlen, what)
                if st == listen:
                    # rqueue: current accept queue; wqueue: its limit (listen backlog).
                    records.append(new(cls, ("tcp", family, "LISTEN", laddr, (s0 << 8) | s1, raddr,
                                             (d0 << 8) | d1, rq, 0, uid, ino, wq, v6only,
                                             ifname(ifx) if ifx else None, None)))
                else:
                    records.append(new(cls, (proto, family, states[st], laddr, (s0 << 8) | s1, raddr,
                                             (d0 << 8) | d1, rq, wq, uid, ino, None, v6only,
                                             ifname(ifx) if ifx else None, None)))
        elif mtype == NLMSG_DONE:
            _check_done(buf, off, mlen, what)
            return out, True, unowned
        elif mtype == NLMSG_ERROR:
            _check_error(buf, off, mlen, what)
        # NLMSG_NOOP and anything else: skip.
        off += (mlen + 3) & ~3
    return out, False, unowned


def _inet_v6only(buf, a, mend, what):
    """INET_DIAG_SKV6ONLY from the attributes in buf[a:mend] (None when absent)."""
    v6only = None
    rta = _RTA.unpack_from
    while mend - a >= 4:
        alen, atype = rta(buf, a)
        if alen < 4 or alen > mend - a:
            raise NetlinkParseError(
                what, a, f"bad attribute (type {atype}, length {alen}, {mend - a} bytes left)"
            )
        if atype == INET_DIAG_SKV6ONLY:
            if alen < 5:
                raise NetlinkParseError(what, a, "INET_DIAG_SKV6ONLY without a value")
            v6only = buf[a + 4] != 0
        a += (alen + 3) & ~3
    return v6only


_ADDR4_CACHE = {}
_ADDR6_CACHE = {}


def _unix_path(raw):
    """(path, abstract) from the bytes of UNIX_DIAG_NAME (a sun_path)."""
    if not raw:
        return None, False
    if raw[0:1] == b"\0":
        # Abstract namespace: shown as "@name"; embedded NULs as "@" too (like ss and /proc).
        return "@" + raw[1:].decode("utf-8", "backslashreplace").replace(
            "\0", "@"
        ), True
    nul = raw.find(b"\0")
    if nul >= 0:
        raw = raw[:nul]
    return raw.decode("utf-8", "backslashreplace"), False


def decode_unix_messages(buf):
    """Decode unix_diag replies (one or more concatenated recv buffers).

    Returns ``(records, done)``: a list of ``_common.UnixSocket`` and whether NLMSG_DONE was
    seen. Raises NetlinkError for NLMSG_ERROR and NetlinkParseError for malformed input.
    Every attribute is checked (the name, peer and queues are read from them).
    """
    what = "unix_diag"
    out = []
    append = out.append
    new = tuple.__new__
    cls = _common.UnixSocket
    types = _UNIX_TYPE_BY_CODE
    states = _UNIX_STATE_BY_CODE
    hdr = _NLHDR_LEN_TYPE.unpack_from
    unpack = _UNIX_MSG.unpack_from
    rta = _RTA.unpack_from
    u32 = _U32.unpack_from
    u32x2 = _U32X2.unpack_from
    end = len(buf)
    off = 0
    while off < end:
        if end - off < _NLMSGHDR_SIZE:
            _next_header(buf, off, end, what)  # raises: truncated header
        mlen, mtype = hdr(buf, off)
        if mlen > end - off or (
            mlen < UNIX_MSG_SIZE and (mtype == SOCK_DIAG_BY_FAMILY or mlen < _NLMSGHDR_SIZE)
        ):
            _bad_length(buf, off, end, UNIX_MSG_SIZE, "unix_diag_msg", what)
        if mtype == SOCK_DIAG_BY_FAMILY:
            _mlen, _mtype, fam, utype, ust, ino = unpack(buf, off)
            if fam != AF_UNIX:
                raise NetlinkParseError(what, off, f"unexpected address family {fam}")
            path = peer = rq = wq = None
            abstract = False
            a = off + UNIX_MSG_SIZE
            mend = off + mlen
            while mend - a >= 4:
                alen, atype = rta(buf, a)
                if alen < 4 or alen > mend - a:
                    raise NetlinkParseError(
                        what, a, f"bad attribute (type {atype}, length {alen}, {mend - a} bytes left)"
                    )
                if atype == UNIX_DIAG_PEER:
                    if alen < 8:
                        raise NetlinkParseError(what, a, "UNIX_DIAG_PEER shorter than 4 bytes")
                    peer = u32(buf, a + 4)[0] or None
                elif atype == UNIX_DIAG_RQLEN:
                    if alen < 12:
                        raise NetlinkParseError(what, a, "UNIX_DIAG_RQLEN shorter than 8 bytes")
                    rq, wq = u32x2(buf, a + 4)
                elif atype == UNIX_DIAG_NAME:
                    path, abstract = _unix_path(bytes(buf[a + 4 : a + alen]))
                elif atype == UNIX_DIAG_VFS and alen < 12:
                    raise NetlinkParseError(what, a, "UNIX_DIAG_VFS shorter than 8 bytes")
                a += (alen + 3) & ~3
            if ust == TCP_LISTEN:
                append(new(cls, (types[utype], "LISTENING", ["ACC"], None, ino, path, abstract,
                                 peer, rq, wq, None)))
            else:
                append(new(cls, (types[utype], states[ust], [], None, ino, path, abstract,
                                 peer, rq, wq, None)))
        elif mtype == NLMSG_DONE:
            _check_done(buf, off, mlen, what)
            return out, True
        elif mtype == NLMSG_ERROR:
            _check_error(buf, off, mlen, what)
        off += (mlen + 3) & ~3
    return out, False


# A run of sock_diag messages that share their first 17 bytes (nlmsghdr: length, type, flags,
# sequence, port id; then the family) is counted with strided slices instead of a Python loop per
# message: a dump of one family from one state set sends 100k such messages at 50k connections.
_RUN_MIN = 16
_RUN_HEAD = 17


def _count_run(buf, off, step, at, tally):
    """Count the run of messages from `off` that repeat the header of the one at `off`, at stride
    `step`, by their state byte at `at`; returns how many were counted: 0, or at least _RUN_MIN.
    All that fit first (a dump's chunk is mostly one run), then windows growing by 4, so that a
    short run costs little."""
    avail = (len(buf) - off) // step
    if avail < _RUN_MIN:
        return 0
    region = bytes(buf[off:off + avail * step])

    def same(n):
        for j in range(_RUN_HEAD):
            if region[j:n * step:step] != region[j:j + 1] * n:
                return False
        return True

    if same(avail):
        run = avail
    else:
        run, window = 0, _RUN_MIN
        while window < avail and same(window):
            run, window = window, window * 4
    if run:
        states = region[at:run * step:step]
        for code in set(states):
            tally[code] += states.count(code)
    return run


def decode_state_counts(buf, tally, what="sock_diag"):
    """Count sock_diag replies by state byte only (inet_diag or unix_diag).

    `tally` is a list of 256 ints indexed by the kernel state code, updated in place.
    Returns whether NLMSG_DONE was seen.
    """
    # The state byte is at the same offset in inet_diag_msg (family, state) and the
    # unix_diag_msg (family, type, state) only by accident of layout: pick per family.
    hdr = _NLHDR_LEN_TYPE.unpack_from
    end = len(buf)
    off = 0
    while off < end:
        if end - off >= _NLMSGHDR_SIZE:
            mlen, mtype = hdr(buf, off)
            if mlen < _NLMSGHDR_SIZE or mlen > end - off:
                _next_header(buf, off, end, what)  # raises with the precise reason
        else:
            _next_header(buf, off, end, what)
        if mtype == SOCK_DIAG_BY_FAMILY:
            if mlen < 20:
                raise NetlinkParseError(
                    what, off, f"sock_diag message too short ({mlen} bytes)"
                )
            at = 18 if buf[off + 16] == AF_UNIX else 17
            step = (mlen + 3) & ~3
            run = _count_run(buf, off, step, at, tally)
            if run:
                off += run * step
                continue
            tally[buf[off + at]] += 1
        elif mtype == NLMSG_DONE:
            _check_done(buf, off, mlen, what)
            return True
        elif mtype == NLMSG_ERROR:
            _check_error(buf, off, mlen, what)
        off += (mlen + 3) & ~3
    return False


def inet_request(proto, family, states, seq=1):
    """Bytes of an inet_diag_req_v2 dump request."""
    return _INET_REQ.pack(
        _INET_REQ.size,
        SOCK_DIAG_BY_FAMILY,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        0,
        _FAMILY_NUMBERS.get(family, family),
        _PROTO_NUMBERS.get(proto, proto),
        0,
        0,
        states,
        0,
        0,
        b"\0" * 16,
        b"\0" * 16,
        0,
        b"\xff" * 8,
    )


def unix_request(states=0xFFFFFFFF, show=UNIX_SHOW, seq=1):
    """Bytes of a unix_diag_req dump request."""
    return _UNIX_REQ.pack(
        _UNIX_REQ.size,
        SOCK_DIAG_BY_FAMILY,
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
        0,
        AF_UNIX,
        0,
        0,
        states,
        0,
        show,
        b"\xff" * 8,
    )


def states_mask(states):
    """The idiag_states bitmask for a set of state names (None: every state)."""
    if states is None:
        return ALL_STATES
    mask = 0
    for name in states:
        mask |= _STATE_BITS.get(name, 0)
    return mask


class NetlinkBackend:
    """TCP/UDP/UNIX sockets from NETLINK_SOCK_DIAG dumps."""

    name = "netlink"

    def __init__(self):
        self._seq = 0

    # -- plumbing ----------------------------------------------------------------------------

    def _open(self):
        sock = socket.socket(
            socket.AF_NETLINK,
            socket.SOCK_RAW | getattr(socket, "SOCK_CLOEXEC", 0),
            NETLINK_SOCK_DIAG,
        )
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SO_RCVBUF_SIZE)
            sock.bind((0, 0))
        except Exception:
            sock.close()
            raise
        return sock

    def _next_seq(self):
        self._seq = (self._seq + 1) & 0xFFFFFFFF
        return self._seq

    def _replies(self, request, what):
        """Send one dump request; yield each reply buffer (a memoryview of a reused buffer).

        The consumer stops when the decoder reports NLMSG_DONE and must close the generator
        (``_dump`` and ``_count`` do), which closes the netlink socket. Socket errors become
        NetlinkError so that the module reports them without a traceback.
        """
        try:
            sock = self._open()
        except OSError as exc:
            raise NetlinkError(exc.errno or 0, what + " socket")
        try:
            buf = bytearray(RECV_BUFSIZE)
            view = memoryview(buf)
            sock.sendall(request)
            while True:
                n = sock.recv_into(buf)
                if n == 0:
                    raise _common.NetstatError(f"{what}: netlink socket closed before NLMSG_DONE")
                yield view[:n]
        except OSError as exc:
            raise NetlinkError(exc.errno or 0, what)
        finally:
            sock.close()

    def _dump(self, request, decode, what):
        replies = self._replies(request, what)
        try:
            for chunk in replies:
                records, done = decode(chunk)
                yield from records
                if done:
                    return
        finally:
            replies.close()

    def _count(self, request, tally, what):
        replies = self._replies(request, what)
        try:
            for chunk in replies:
                if decode_state_counts(chunk, tally, what):
                    return
        finally:
            replies.close()

    # -- interface ---------------------------------------------------------------------------

    def check(self):
        """Raise BackendUnavailable when sock_diag cannot be used here."""
        if not sys.platform.startswith("linux") or not hasattr(socket, "AF_NETLINK"):
            raise _common.BackendUnavailable(f"netlink sock_diag needs Linux (platform {sys.platform})")
        try:
            self._open().close()
        except OSError as exc:
            raise _common.BackendUnavailable(f"cannot open a NETLINK_SOCK_DIAG socket: {exc}")
        # Empty dumps (no state selected) prove each sock_diag handler answers (udp_diag and
        # unix_diag are modules that may be missing).
        probes = (
            ("tcp", inet_request("tcp", "ipv4", 0, self._next_seq())),
            ("udp", inet_request("udp", "ipv4", 0, self._next_seq())),
            ("unix", unix_request(0, 0, self._next_seq())),
        )
        for proto, request in probes:
            try:
                self._count(request, [0] * 256, proto + " sock_diag")
            except _common.NetstatError as exc:
                raise _common.BackendUnavailable(f"{proto} sock_diag is not usable: {exc}")

    def inet_sockets(
        self, protocols=("tcp", "udp"), families=("ipv4", "ipv6"), states=None
    ):
        """Yield _common.InetSocket for the TCP/UDP sockets in the given states (None: all)."""
        mask = states_mask(states)
        if not mask:
            return
        for proto in protocols:
            if proto not in _PROTO_NUMBERS:
                continue
            for family in families:
                if family not in _FAMILY_NUMBERS:
                    continue
                request = inet_request(proto, family, mask, self._next_seq())

                def decode(chunk, proto=proto):
                    return decode_inet_messages(chunk, proto)

                yield from self._dump(request, decode, f"{proto}/{family} inet_diag")

    def inet_rows(self, protocols, families, owners, rows, keep, pid_text=None):
        """Every TCP/UDP socket as a compact row appended to `rows` (see decode_inet_rows), the
        possible listeners as records appended to `keep`. Returns (counts per protocol as
        {state name: n}, rows without a known owner). `pid_text` (a dict) collects the owner
        values the rows name, with their text."""
        counts = {}
        unowned = 0
        if pid_text is None:
            pid_text = {}
        for proto in protocols:
            if proto not in _PROTO_NUMBERS:
                continue
            tally = [0] * 256
            for family in families:
                if family not in _FAMILY_NUMBERS:
                    continue
                what = f"{proto}/{family} inet_diag"
                replies = self._replies(inet_request(proto, family, ALL_STATES, self._next_seq()), what)
                try:
                    for chunk in replies:
                        got, done, missing = decode_inet_rows(chunk, proto, owners, tally, keep, pid_text=pid_text)
                        rows.extend(got)
                        unowned += missing
                        if done:
                            break
                finally:
                    replies.close()
            table = counts.setdefault(proto, {})
            for code, n in enumerate(tally):
                if n:
                    name = _TCP_STATE_BY_CODE[code]
                    table[name] = table.get(name, 0) + n
        return counts, unowned

    def unix_sockets(self):
        """Yield _common.UnixSocket for every UNIX domain socket (refcnt is None)."""
        request = unix_request(0xFFFFFFFF, UNIX_SHOW, self._next_seq())
        yield from self._dump(request, decode_unix_messages, "unix_diag")

    def state_counts(self, protocols=_common.PROTOCOLS):
        """Counts per protocol and state, decoding only the state byte of each socket."""
        counts = _common.empty_counts(protocols)
        for proto in protocols:
            tally = [0] * 256
            if proto == "unix":
                requests = [unix_request(0xFFFFFFFF, 0, self._next_seq())]
            elif proto in _PROTO_NUMBERS:
                requests = [
                    inet_request(proto, fam, ALL_STATES, self._next_seq())
                    for fam in ("ipv4", "ipv6")
                ]
            else:
                continue
            for request in requests:
                self._count(request, tally, proto + " sock_diag")
            table = counts[proto]
            names = _UNIX_STATE_BY_CODE if proto == "unix" else _TCP_STATE_BY_CODE
            for code, n in enumerate(tally):
                if n:
                    table[names[code]] = table.get(names[code], 0) + n
        return counts
