# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netlink backend itself (no Ansible, no owners) against `ss`, on real sockets.

A throw-away network namespace gets the shared scenario (tests/integration/scenario.py) plus a
second process with the cases the scenario does not cover: a v4-mapped connection to a dual-stack
listener, a listener bound to a device, a connected UDP socket, UNIX socketpairs and a connected
datagram pair, and a few hundred connections so that every dump spans several recv buffers.
The backend runs inside the namespace (``ip netns exec``) and its records must match
``ss -tuanx`` socket for socket: states, addresses, queues, inodes, v6only, peers.
"""

import json
import os
import re

import pytest
from netns_helpers import COLLECTIONS, PYTHON, SS_STATES

EXTRA = r"""
import os, socket, sys, time
n = int(sys.argv[1])
keep = []
dual = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
dual.bind(("::", 7203))
dual.listen(64)
mapped = socket.create_connection(("127.0.0.1", 7203))
mapped_srv, _ = dual.accept()
dev = socket.socket()
dev.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, b"lo")
dev.bind(("0.0.0.0", 7204))
dev.listen(5)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("127.0.0.1", 7205))
uc = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
uc.connect(("127.0.0.1", 7205))
uc.send(b"q" * 33)
many = socket.socket()
many.bind(("127.0.0.1", 7206))
many.listen(1024)
for i in range(n):
    c = socket.create_connection(("127.0.0.1", 7206))
    s, _ = many.accept()
    if i % 7 == 0:
        c.sendall(b"m" * (i + 1))
    keep += [c, s]
for i in range(n // 2):
    a, b = socket.socketpair()
    if i % 5 == 0:
        a.sendall(b"p" * (i + 1))
    keep += [a, b]
d1 = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
d1.bind("\0netaudit-dgram-%d" % os.getpid())
d2 = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
d2.connect("\0netaudit-dgram-%d" % os.getpid())
d2.send(b"hello")
keep += [dual, mapped, mapped_srv, dev, u, uc, many, d1, d2]
time.sleep(0.1)
sys.stdout.write("READY\n")
sys.stdout.flush()
sys.stdin.read()
"""

RUNNER = r"""
import json, sys
from ansible_collections.netaudit.netstat.plugins.module_utils._netlink import NetlinkBackend
b = NetlinkBackend()
b.check()
out = {
    "inet": [s._asdict() for s in b.inet_sockets()],
    "listeners": [s._asdict() for s in b.inet_sockets(states={"LISTEN", "CLOSED"})],
    "tcp6_established": [s._asdict() for s in b.inet_sockets(
        protocols=("tcp",), families=("ipv6",), states={"ESTABLISHED"})],
    "unix": [s._asdict() for s in b.unix_sockets()],
    "counts": b.state_counts(("tcp", "udp", "unix")),
}
json.dump(out, sys.stdout)
"""

N_CONNECTIONS = 400
UNIX_STATES = {"LISTEN": "LISTENING", "ESTAB": "CONNECTED", "UNCONN": "UNCONNECTED"}


def _host(text):
    """ss address text -> (address, interface): '[::1]' -> '::1', '0.0.0.0%lo' -> ('0.0.0.0', 'lo')."""
    host, _sep, port = text.rpartition(":")
    iface = None
    if "%" in host:
        host, iface = host.split("%", 1)
    host = host.strip("[]")
    return host, int(port) if port.isdigit() else 0, iface


def _ss_inet(ns):
    out = ns.run(["ss", "-H", "-t", "-u", "-a", "-n", "-e"]).stdout
    socks = []
    for line in out.splitlines():
        f = line.split()
        if len(f) < 6:
            continue
        lhost, lport, iface = _host(f[4])
        rhost, rport, _iface = _host(f[5])
        inode = re.search(r"\bino:(\d+)", line)
        v6only = re.search(r"\bv6only:(\d)", line)
        socks.append(
            {
                "proto": f[0],
                "state": SS_STATES[f[1]],
                "recv_q": int(f[2]),
                "send_q": int(f[3]),
                "local_address": lhost,
                "local_port": lport,
                "remote_address": rhost,
                "remote_port": rport,
                "interface": iface,
                "inode": int(inode.group(1)) if inode else 0,
                "v6only": bool(int(v6only.group(1))) if v6only else None,
            }
        )
    return socks


def _ss_unix(ns):
    out = ns.run(["ss", "-H", "-x", "-a", "-n"]).stdout
    socks = []
    for line in out.splitlines():
        f = line.split()
        if len(f) < 8:
            continue
        socks.append(
            {
                "type": {"u_str": "stream", "u_dgr": "dgram", "u_seq": "seqpacket"}.get(
                    f[0], f[0]
                ),
                "state": UNIX_STATES[f[1]],
                "recv_q": int(f[2]),
                "send_q": int(f[3]),
                "path": None if f[4] == "*" else f[4],
                "inode": int(f[5]),
                "peer": int(f[7]) or None if f[7].isdigit() else None,
            }
        )
    return socks


def _norm(addr):
    # ss prints a dual-stack wildcard as '*'
    return "::" if addr == "*" else addr


def _key(s):
    return (
        s["proto"],
        s["state"],
        _norm(s["local_address"]),
        s["local_port"],
        _norm(s["remote_address"]),
        s["remote_port"],
    )


@pytest.fixture(scope="module")
def netlink_ns(scenario_ns):
    ns, info = scenario_ns
    script = os.path.join(ns.tmpdir, "netlink_extra.py")
    with open(script, "w") as f:
        f.write(EXTRA)
    ns.start([PYTHON, script, str(N_CONNECTIONS)])
    res = ns.run(
        [PYTHON, "-c", RUNNER],
        env=dict(os.environ, PYTHONPATH=COLLECTIONS),
    )
    assert res.returncode == 0, res.stderr
    ours = json.loads(res.stdout)
    return ns, info, ours, _ss_inet(ns), _ss_unix(ns)


def test_same_inet_sockets_as_ss(netlink_ns):
    _ns, _info, ours, ss_inet, _ss_unix = netlink_ns
    assert len(ss_inet) > 2 * N_CONNECTIONS
    assert sorted(_key(s) for s in ours["inet"]) == sorted(_key(s) for s in ss_inet)


def test_inet_fields_match_ss(netlink_ns):
    _ns, _info, ours, ss_inet, _ss_unix = netlink_ns
    mine = {_key(s): s for s in ours["inet"]}
    assert len(mine) == len(ours["inet"])
    for sock in ss_inet:
        got = mine[_key(sock)]
        assert got["inode"] == sock["inode"], sock
        assert got["recv_q"] == sock["recv_q"], sock
        if sock["proto"] == "tcp" and sock["state"] == "LISTEN":
            assert got["backlog"] == sock["send_q"], (
                sock
            )  # ss: Send-Q of a listener = backlog
            assert got["send_q"] == 0
        else:
            assert got["send_q"] == sock["send_q"], sock
            assert got["backlog"] is None
        if sock["v6only"] is not None:
            assert got["v6only"] is sock["v6only"], sock
        assert got["interface"] == sock["interface"], sock
        assert got["pids"] is None
        assert got["uid"] == 0


def test_special_cases(netlink_ns):
    _ns, info, ours, _ss_inet, _ss_unix = netlink_ns
    mapped = [
        s
        for s in ours["inet"]
        if s["local_port"] == 7203 and s["state"] == "ESTABLISHED"
    ]
    assert len(mapped) == 1 and mapped[0]["local_address"] == "::ffff:127.0.0.1"
    assert mapped[0]["family"] == "ipv6"
    dev = [s for s in ours["inet"] if s["local_port"] == 7204]
    assert dev[0]["interface"] == "lo" and dev[0]["backlog"] == 5
    udp = {s["local_port"]: s for s in ours["inet"] if s["proto"] == "udp"}
    assert udp[7205]["state"] == "CLOSED" and udp[7205]["recv_q"] > 0
    tw = [s for s in ours["inet"] if s["state"] == "TIME_WAIT"]
    assert [s["local_port"] for s in tw] == [info["time_wait_port"]] and tw[0][
        "inode"
    ] == 0


def test_kernel_side_state_filter(netlink_ns):
    _ns, _info, ours, _ss_inet, _ss_unix = netlink_ns
    want = sorted(_key(s) for s in ours["inet"] if s["state"] in ("LISTEN", "CLOSED"))
    assert sorted(_key(s) for s in ours["listeners"]) == want
    assert len(want) < 20  # the 800 connections never reached Python
    est6 = sorted(
        _key(s)
        for s in ours["inet"]
        if s["proto"] == "tcp" and s["family"] == "ipv6" and s["state"] == "ESTABLISHED"
    )
    assert sorted(_key(s) for s in ours["tcp6_established"]) == est6


def test_state_counts_match_ss(netlink_ns):
    _ns, _info, ours, ss_inet, ss_unix = netlink_ns
    for proto in ("tcp", "udp"):
        expected = {name: 0 for name in ours["counts"][proto]}
        for s in ss_inet:
            if s["proto"] == proto:
                expected[s["state"]] += 1
        assert ours["counts"][proto] == expected, proto
    expected = {name: 0 for name in ours["counts"]["unix"]}
    for s in ss_unix:
        expected[s["state"]] += 1
    assert ours["counts"]["unix"] == expected


def test_same_unix_sockets_as_ss(netlink_ns):
    _ns, info, ours, _ss_inet, ss_unix = netlink_ns
    assert len(ss_unix) > N_CONNECTIONS
    assert sorted(s["inode"] for s in ours["unix"]) == sorted(
        s["inode"] for s in ss_unix
    )
    mine = {s["inode"]: s for s in ours["unix"]}
    for sock in ss_unix:
        got = mine[sock["inode"]]
        for field in ("type", "state", "path", "recv_q", "send_q", "peer"):
            assert got[field] == sock[field], (field, sock, got)
        assert got["refcnt"] is None
        assert got["flags"] == (["ACC"] if sock["state"] == "LISTENING" else [])
        assert got["abstract"] is bool(sock["path"] and sock["path"].startswith("@"))
    paths = {s["path"]: s for s in ours["unix"] if s["path"]}
    assert paths[info["unix"]["abstract"]]["abstract"] is True
    assert paths[info["unix"]["stream"]]["state"] == "LISTENING"


HALF_OPEN = r"""
import socket, struct, subprocess, sys, time


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn(src, dst, sport, dport):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, 1000, 0, 5 << 4, 0x02, 65535, 0, 0)
    pseudo = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip + tcp


# SYN_RECV: SYNs from 10.9.9.2, an address behind a veth whose peer is down, so the SYN-ACK
# never gets an answer and the request socket (TCP_NEW_SYN_RECV) stays.
try:
    subprocess.check_call(["ip", "link", "add", "hv0", "type", "veth", "peer", "name", "hv1"])
    subprocess.check_call(["ip", "addr", "add", "10.9.9.1/24", "dev", "hv0"])
    subprocess.check_call(["ip", "link", "set", "hv0", "up"])
except (OSError, subprocess.CalledProcessError) as exc:
    sys.stdout.write("SKIP no veth: %s\n" % exc)
    sys.stdout.flush()
    sys.exit(0)
lst = socket.socket()
lst.bind(("0.0.0.0", 7301))
lst.listen(16)
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
raw.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
for port in (40001, 40002):
    raw.sendto(syn("10.9.9.2", "10.9.9.1", port, 7301), ("10.9.9.1", 0))
# SYN_SENT: a listener with a full accept queue drops the SYNs of later clients.
full = socket.socket()
full.bind(("127.0.0.1", 7302))
full.listen(0)
clients = []
for _i in range(4):
    c = socket.socket()
    c.setblocking(False)
    try:
        c.connect(("127.0.0.1", 7302))
    except BlockingIOError:
        pass
    clients.append(c)
time.sleep(0.3)
sys.stdout.write("READY\n")
sys.stdout.flush()
sys.stdin.read()
"""

HALF_OPEN_RUNNER = r"""
import json, sys
from ansible_collections.netaudit.netstat.plugins.module_utils._netlink import NetlinkBackend
b = NetlinkBackend()
json.dump({
    "inet": [s._asdict() for s in b.inet_sockets(("tcp",))],
    "syn_recv": [s._asdict() for s in b.inet_sockets(("tcp",), states={"SYN_RECV"})],
    "syn_sent": [s._asdict() for s in b.inet_sockets(("tcp",), states={"SYN_SENT"})],
    "counts": b.state_counts(("tcp",)),
}, sys.stdout)
"""


def test_half_open_states_match_ss(netns):
    """SYN_RECV (the kernel's NEW_SYN_RECV request sockets) and SYN_SENT, filtered in the kernel."""
    script = os.path.join(netns.tmpdir, "half_open.py")
    with open(script, "w") as f:
        f.write(HALF_OPEN)
    proc, rest = netns.start([PYTHON, script], ready="")
    if rest.startswith("SKIP"):
        pytest.skip(rest)
    assert rest == "READY", rest
    res = netns.run([PYTHON, "-c", HALF_OPEN_RUNNER], env=dict(os.environ, PYTHONPATH=COLLECTIONS))
    assert res.returncode == 0, res.stderr
    ours = json.loads(res.stdout)
    theirs = [s for s in _ss_inet(netns) if s["proto"] == "tcp"]
    assert sorted(_key(s) for s in ours["inet"]) == sorted(_key(s) for s in theirs)
    syn_recv = sorted(_key(s) for s in theirs if s["state"] == "SYN_RECV")
    syn_sent = sorted(_key(s) for s in theirs if s["state"] == "SYN_SENT")
    assert len(syn_recv) == 2 and len(syn_sent) >= 3
    assert sorted(_key(s) for s in ours["syn_recv"]) == syn_recv
    assert sorted(_key(s) for s in ours["syn_sent"]) == syn_sent
    assert all(s["inode"] == 0 and s["remote_address"] == "10.9.9.2" for s in ours["syn_recv"])
    assert ours["counts"]["tcp"]["SYN_RECV"] == 2
    assert ours["counts"]["tcp"]["SYN_SENT"] == len(syn_sent)
