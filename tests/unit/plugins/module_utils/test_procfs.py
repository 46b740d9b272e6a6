# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The /proc/net parsers on canned kernel text."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils import _common
from ansible_collections.netaudit.netstat.plugins.module_utils._procfs import (
    ProcfsBackend,
    decode_address,
    parse_inet_lines,
    parse_unix_lines,
)

TCP_HEADER = ("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
              "timeout inode\n")


def tcp_line(n, local, remote, state, tx=0, rx=0, uid=0, inode=1000):
    return ("%4d: %s %s %02X %08X:%08X 00:00000000 00000000 %5d        0 %d 1 0000000000000000 "
            "100 0 0 10 0\n" % (n, local, remote, state, tx, rx, uid, inode))


@pytest.mark.parametrize("code,name", [
    (0x01, "ESTABLISHED"), (0x02, "SYN_SENT"), (0x03, "SYN_RECV"), (0x04, "FIN_WAIT1"),
    (0x05, "FIN_WAIT2"), (0x06, "TIME_WAIT"), (0x07, "CLOSED"), (0x08, "CLOSE_WAIT"),
    (0x09, "LAST_ACK"), (0x0A, "LISTEN"), (0x0B, "CLOSING"), (0x0C, "SYN_RECV"), (0x0F, "UNKNOWN"),
])
def test_every_tcp_state(code, name):
    lines = [TCP_HEADER, tcp_line(0, "0100007F:1F90", "0100007F:C350", code)]
    (sock,) = parse_inet_lines(lines, "/proc/net/tcp", "tcp", "ipv4")
    assert sock.state == name
    assert name in _common.STATE_NAMES


def test_ipv4_fields():
    lines = [TCP_HEADER, tcp_line(0, "0100007F:0016", "0A00020F:D431", 1, tx=5, rx=7, uid=1000, inode=4242)]
    (sock,) = parse_inet_lines(lines, "/proc/net/tcp", "tcp", "ipv4")
    assert sock.local_address == "127.0.0.1" and sock.local_port == 22
    assert sock.remote_address == "15.2.0.10" and sock.remote_port == 0xD431
    assert (sock.send_q, sock.recv_q, sock.uid, sock.inode) == (5, 7, 1000, 4242)
    assert sock.proto == "tcp" and sock.family == "ipv4"


@pytest.mark.parametrize("hexaddr,text", [
    ("00000000000000000000000000000000", "::"),
    ("00000000000000000000000001000000", "::1"),
    ("0000000000000000FFFF00000100007F", "::ffff:127.0.0.1"),
    ("000080FE00000000FF005452123456FE", "fe80::5254:ff:fe56:3412"),
    ("B80D0120000000000000000001000000", "2001:db8::1"),
])
def test_ipv6_addresses(hexaddr, text):
    assert decode_address(hexaddr, "ipv6") == text


def test_ipv6_line_and_v4_mapped():
    lines = [TCP_HEADER, tcp_line(0, "0000000000000000FFFF00000100007F:1F90",
                                  "00000000000000000000000000000000:0000", 0x0A)]
    (sock,) = parse_inet_lines(lines, "/proc/net/tcp6", "tcp", "ipv6")
    assert sock.local_address == "::ffff:127.0.0.1" and sock.family == "ipv6" and sock.state == "LISTEN"
    assert _common.exposure(sock.local_address) == "loopback"


def test_state_filter_skips_before_decoding():
    lines = [TCP_HEADER, tcp_line(0, "ZZZZ:0016", "0:0", 1), tcp_line(1, "0100007F:0016", "00000000:0000", 0x0A)]
    (sock,) = parse_inet_lines(lines, "/proc/net/tcp", "tcp", "ipv4", states={"LISTEN"})
    assert sock.state == "LISTEN"


def test_malformed_line_names_file_and_line():
    lines = [TCP_HEADER, tcp_line(0, "0100007F:0016", "00000000:0000", 0x0A), "   1: garbage here\n"]
    with pytest.raises(_common.ParseError) as err:
        list(parse_inet_lines(lines, "/proc/net/tcp", "tcp", "ipv4"))
    assert err.value.path == "/proc/net/tcp" and err.value.lineno == 3
    assert "/proc/net/tcp:3:" in str(err.value)


def test_malformed_line_collected_when_asked():
    errors = []
    lines = [TCP_HEADER, "   0: 0100007F:XYZ 00000000:0000 0A 00000000:00000000 00:0 0 0 0 1\n",
             tcp_line(1, "0100007F:0016", "00000000:0000", 0x0A)]
    socks = list(parse_inet_lines(lines, "/proc/net/tcp", "tcp", "ipv4", errors=errors))
    assert len(socks) == 1 and len(errors) == 1 and errors[0].startswith("/proc/net/tcp:2:")


UNIX_HEADER = "Num       RefCount Protocol Flags    Type St Inode Path\n"


def unix_line(refcnt, flags, stype, st, inode, path=None):
    line = "0000000000000000: %08X 00000000 %08X %04X %02X %5d" % (refcnt, flags, stype, st, inode)
    return line + (" " + path if path is not None else "") + "\n"


def test_unix_sockets():
    lines = [
        UNIX_HEADER,
        unix_line(2, 0x10000, 1, 1, 100, "/run/dbus/system_bus_socket"),
        unix_line(3, 0, 1, 3, 101),
        unix_line(2, 0, 2, 1, 102, "/dev/log"),
        unix_line(2, 0x10000, 1, 1, 103, "@/tmp/.X11-unix/X0"),
        unix_line(2, 0x10000, 5, 1, 104, "/run/with space/sock et"),
        unix_line(2, 0x10000, 1, 1, 105, u"/run/ünïcødé.sock"),
        unix_line(2, 0, 1, 2, 106, "@abs@with@nuls"),
    ]
    socks = list(parse_unix_lines(lines, "/proc/net/unix"))
    assert [s.inode for s in socks] == [100, 101, 102, 103, 104, 105, 106]
    listen = socks[0]
    assert (listen.type, listen.state, listen.flags, listen.refcnt) == ("stream", "LISTENING", ["ACC"], 2)
    assert socks[1].path is None and socks[1].state == "CONNECTED"
    assert socks[2].type == "dgram" and socks[2].state == "UNCONNECTED"
    assert socks[3].abstract and socks[3].path == "@/tmp/.X11-unix/X0"
    assert socks[4].path == "/run/with space/sock et" and socks[4].type == "seqpacket"
    assert socks[5].path == u"/run/ünïcødé.sock"
    assert socks[6].state == "CONNECTING" and socks[6].abstract


def test_unix_path_with_newline_is_joined():
    lines = [UNIX_HEADER, unix_line(2, 0x10000, 1, 1, 200, "/tmp/evil"), "name.sock\n",
             unix_line(2, 0, 1, 3, 201)]
    socks = list(parse_unix_lines(lines, "/proc/net/unix"))
    assert socks[0].path == "/tmp/evil\nname.sock"
    assert socks[1].inode == 201


def test_unix_malformed_line():
    lines = [UNIX_HEADER, "0000000000000000: 00000002 00000000 0001000Z 0001 01 100\n"]
    with pytest.raises(_common.ParseError) as err:
        list(parse_unix_lines(lines, "/proc/net/unix"))
    assert "/proc/net/unix:2:" in str(err.value)


def test_backend_reads_a_fixture_tree(tmp_path):
    net = tmp_path / "net"
    net.mkdir()
    (net / "tcp").write_text(TCP_HEADER + tcp_line(0, "00000000:0016", "00000000:0000", 0x0A, inode=11))
    (net / "tcp6").write_text(TCP_HEADER)
    (net / "udp").write_text(TCP_HEADER + "garbage\n")
    (net / "unix").write_text(UNIX_HEADER + unix_line(2, 0x10000, 1, 1, 12, "/run/x.sock"))
    backend = ProcfsBackend(str(tmp_path))
    backend.check()
    socks = list(backend.inet_sockets())
    assert [(s.proto, s.local_port, s.inode) for s in socks] == [("tcp", 22, 11)]
    assert backend.errors and backend.errors[0].startswith(str(net / "udp") + ":2:")
    assert [u.path for u in backend.unix_sockets()] == ["/run/x.sock"]


def test_backend_unavailable_without_proc(tmp_path):
    with pytest.raises(_common.BackendUnavailable) as err:
        ProcfsBackend(str(tmp_path)).check()
    assert "does not exist" in str(err.value)


@pytest.mark.parametrize(
    "local,remote,extra",
    [
        ("0100007F:1FFFF", "00000000:0000", {}),  # a port of 5 hex digits
        ("0100007F:-001", "00000000:0000", {}),  # int() would take the sign
        ("0100007F:0_16", "00000000:0000", {}),  # ... and the underscore
        ("0100007F:0016", "00000000:0000", {"uid": "4294967296"}),  # uid >= 2^32
        ("0100007F:0016", "00000000:0000", {"uid": "+0"}),
        ("7F:0016", "00000000:0000", {}),  # a short address
    ],
)
def test_values_no_kernel_writes_are_parse_errors(local, remote, extra):
    line = tcp_line(0, local, remote, 0x0A)
    if "uid" in extra:
        fields = line.split()
        fields[7] = extra["uid"]
        line = "   " + " ".join(fields) + "\n"
    errors = []
    assert list(parse_inet_lines([TCP_HEADER, line], "/proc/net/tcp", "tcp", "ipv4", None, errors)) == []
    assert len(errors) == 1 and "/proc/net/tcp:2:" in errors[0]


def test_a_malformed_line_is_not_glued_onto_an_unbound_socket():
    lines = [
        "Num       RefCount Protocol Flags    Type St Inode Path\n",
        "0000000000000000: 00000002 00000000 00000000 0001 03 12345\n",
        "garbage that no kernel writes\n",
    ]
    errors = []
    socks = list(parse_unix_lines(lines, "/proc/net/unix", errors))
    assert [(s.inode, s.path) for s in socks] == [(12345, None)]
    assert len(errors) == 1 and "/proc/net/unix:3:" in errors[0]
