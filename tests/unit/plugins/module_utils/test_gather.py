# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Owner resolution and facts assembly on a fixture procfs tree (no real /proc involved)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import socket
import struct

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils import _common, _netlink, _owners
from ansible_collections.netaudit.netstat.plugins.module_utils._gather import Options, gather
from ansible_collections.netaudit.netstat.plugins.module_utils._owners import OwnerResolver, _merge, owner_pids

from test_procfs import TCP_HEADER, UNIX_HEADER, tcp_line, unix_line


def make_proc(root, processes, tcp=(), udp=(), unix=(), tcp6=()):
    """processes: {pid: dict(comm=..., cmdline=[...], uid=..., fds=[inode, ...], exe=...)}"""
    net = root / "net"
    net.mkdir(exist_ok=True)
    (net / "tcp").write_text(TCP_HEADER + "".join(tcp))
    (net / "tcp6").write_text(TCP_HEADER + "".join(tcp6))
    (net / "udp").write_text(TCP_HEADER + "".join(udp))
    (net / "udp6").write_text(TCP_HEADER)
    (net / "unix").write_text(UNIX_HEADER + "".join(unix))
    (root / "sys" / "net" / "ipv4").mkdir(parents=True, exist_ok=True)
    (root / "sys" / "net" / "ipv4" / "ip_local_port_range").write_text("32768\t60999\n")
    for pid, p in processes.items():
        d = root / str(pid)
        d.mkdir()
        comm = p.get("comm", "proc")
        (d / "comm").write_bytes(comm.encode("utf-8") + b"\n")
        (d / "stat").write_bytes(("%d (%s) S %d 0 0" % (pid, comm, p.get("ppid", 1))).encode("utf-8"))
        (d / "status").write_text("Name:\t%s\nUid:\t%d\t%d\t%d\t%d\n" % (comm, p.get("uid", 0), 0, 0, 0))
        (d / "cmdline").write_bytes(b"\0".join(a.encode("utf-8") for a in p.get("cmdline", [comm])) + b"\0")
        if "exe" in p:
            os.symlink(p["exe"], str(d / "exe"))
        if p.get("fd") == "unreadable":
            (d / "fd").write_text("")  # listdir fails with ENOTDIR, like EACCES would
            continue
        if p.get("fd") == "vanished":
            continue
        (d / "fd").mkdir()
        for i, inode in enumerate(p.get("fds", [])):
            target = "socket:[%d]" % inode if isinstance(inode, int) else inode
            os.symlink(target, str(d / "fd" / str(i + 3)))
    return str(root)


LISTEN = 0x0A


@pytest.fixture
def proc(tmp_path):
    return make_proc(
        tmp_path,
        {
            100: dict(comm="nginx", cmdline=["nginx: master process", "/usr/sbin/nginx"], fds=[11, "/dev/null", "pipe:[5]"],
                      exe="/usr/sbin/nginx"),
            101: dict(comm="nginx", ppid=100, cmdline=["nginx: worker process"], fds=[11, 13], uid=33),
            102: dict(comm="nginx", ppid=100, cmdline=["nginx: worker process"], fds=[11], uid=33),
            200: dict(comm="my prog (x)", cmdline=["/opt/my prog/bin", "--name=a\nb"], fds=[12]),
            201: dict(comm=u"ünï\ncødé", fds=[14]),
            300: dict(fd="vanished"),
        },
        tcp=[
            tcp_line(0, "00000000:0050", "00000000:0000", LISTEN, inode=11),
            tcp_line(1, "0100007F:1F90", "00000000:0000", LISTEN, inode=12),
            tcp_line(2, "0100007F:0050", "0100007F:D000", 0x01, rx=3, inode=13),
            tcp_line(3, "0100007F:D001", "0100007F:0050", 0x06, inode=0),
            tcp_line(4, "0100007F:D002", "0100007F:0050", 0x0C, inode=0),
        ],
        udp=[
            tcp_line(0, "00000000:0202", "00000000:0000", 0x07, inode=14),
            tcp_line(1, "0100007F:9C40", "00000000:0000", 0x07, inode=15),  # ephemeral port 40000: client
            tcp_line(2, "0100007F:9C41", "0100007F:0035", 0x01, inode=16),
        ],
        unix=[
            unix_line(2, 0x10000, 1, 1, 20, "/run/app.sock"),
            unix_line(3, 0, 1, 3, 21),
            unix_line(2, 0x10000, 1, 1, 22, "@abstract"),
        ],
    )


def test_owner_walk_maps_shared_sockets_and_odd_names(proc):
    resolver = OwnerResolver(proc)
    owners = resolver.resolve()
    assert owners[11] == (100, 101, 102)
    assert owners[12] == 200  # one owner: the pid itself, not a tuple
    assert resolver.vanished == 1 and resolver.unreadable == 0
    odd = resolver.process(200)
    assert odd["name"] == "my prog (x)" and odd["ppid"] == 1
    assert odd["cmdline"] == "/opt/my prog/bin --name=a\nb"
    assert resolver.process(201)["name"] == u"ünï\ncødé"
    assert resolver.process(100)["exe"] == "/usr/sbin/nginx"
    assert resolver.process(101)["user"] is not None and resolver.process(101)["uid"] == 33


def test_owner_walk_only_wanted(proc):
    assert OwnerResolver(proc).resolve({12}) == {12: 200}


def test_gather_from_fixture_tree(proc):
    facts = gather(Options(backend="procfs", proc_root=proc, connections="full", unix="all"))
    c = facts["collector"]
    assert c["backend"] == "procfs" and c["complete"] is True and c["reasons"] == []
    listeners = [(l["proto"], l["address"], l["port"]) for l in facts["listeners"]]
    assert listeners == [("tcp", "0.0.0.0", 80), ("tcp", "127.0.0.1", 8080), ("udp", "0.0.0.0", 514)]
    nginx = facts["listeners"][0]
    assert [p["pid"] for p in nginx["processes"]] == [100, 101, 102]
    assert nginx["exposure"] == "wildcard"
    counts = facts["counts"]
    assert counts["tcp"]["LISTEN"] == 2 and counts["tcp"]["ESTABLISHED"] == 1
    assert counts["tcp"]["TIME_WAIT"] == 1 and counts["tcp"]["SYN_RECV"] == 1
    assert counts["udp"]["CLOSED"] == 2 and counts["udp"]["ESTABLISHED"] == 1
    assert counts["unix"]["LISTENING"] == 2 and counts["unix"]["CONNECTED"] == 1
    for proto in ("tcp", "udp"):
        assert tuple(counts[proto]) == _common.STATE_NAMES
    conns = facts["connections"]
    assert len(conns) == 5  # 3 tcp non-listeners + the ephemeral and the connected udp socket
    est = [x for x in conns if x["state"] == "ESTABLISHED" and x["proto"] == "tcp"][0]
    assert est["recv_q"] == 3 and [p["pid"] for p in est["processes"]] == [101]
    assert "processes" not in facts  # each entry carries its own process dicts
    assert [u["inode"] for u in facts["unix"]] == [21, 20, 22]  # unbound first, then by path


def test_connection_modes(proc):
    counts_only = gather(Options(backend="procfs", proc_root=proc))
    assert "connections" not in counts_only
    assert counts_only["counts"]["tcp"]["ESTABLISHED"] == 1
    assert [u["path"] for u in counts_only["unix"]] == ["/run/app.sock", "@abstract"]
    compact_facts = gather(Options(backend="procfs", proc_root=proc, connections="compact"))
    # the rows' pids point into `processes`: every owner seen, the listeners' ones included
    assert sorted(compact_facts["processes"]) == ["100", "101", "102", "200", "201"]
    assert compact_facts["processes"]["101"]["name"] == "nginx"
    compact = compact_facts["connections"]
    assert compact["columns"][-1] == "pids" and compact["count"] == 5
    assert isinstance(compact["rows"], str) and len(compact["rows"].splitlines()) == 5
    rows = [_common.parse_compact_row(compact["columns"], r) for r in _common.compact_rows(compact["rows"])]
    est = [r for r in rows if r["state"] == "ESTABLISHED" and r["proto"] == "tcp"][0]
    assert est == {"proto": "tcp", "family": "ipv4", "state": "ESTABLISHED", "local_address": "127.0.0.1",
                   "local_port": 80, "remote_address": "127.0.0.1", "remote_port": 0xD000, "recv_q": 3,
                   "send_q": 0, "inode": 13, "uid": 0, "pids": [101]}
    tw = [r for r in rows if r["state"] == "TIME_WAIT"][0]
    assert tw["pids"] == [] and tw["inode"] == 0
    summary = gather(Options(backend="procfs", proc_root=proc, connections="summary"))["connections"]
    assert {"proto": "tcp", "family": "ipv4", "state": "ESTABLISHED", "local_port": 80,
            "remote_address": "127.0.0.1", "count": 1} in summary
    assert sum(s["count"] for s in summary) == 5


def test_unreadable_process_makes_facts_incomplete(tmp_path):
    proc = make_proc(
        tmp_path,
        {1: dict(comm="init", fd="unreadable"), 2: dict(comm="mine", fds=[31])},
        tcp=[tcp_line(0, "00000000:0016", "00000000:0000", LISTEN, inode=30),
             tcp_line(1, "0100007F:1F90", "00000000:0000", LISTEN, inode=31)],
    )
    facts = gather(Options(backend="procfs", proc_root=proc))
    c = facts["collector"]
    assert c["complete"] is False and c["processes_unreadable"] == 1
    assert "1 socket(s) have no known owner" in c["reasons"][0]
    by_port = dict((l["port"], l) for l in facts["listeners"])
    assert by_port[22]["processes"] == [] and by_port[8080]["processes"][0]["name"] == "mine"


def test_malformed_table_line_is_reported_not_fatal(tmp_path):
    bad = "  0: this is not a socket line at all\n"
    proc = make_proc(tmp_path, {}, tcp=[bad, tcp_line(1, "00000000:0016", "00000000:0000", LISTEN, inode=30)])
    facts = gather(Options(backend="procfs", proc_root=proc, owners=False))
    c = facts["collector"]
    assert c["complete"] is False
    assert any(w.endswith("tcp:2: malformed socket line (expected at least 10 fields, found 9): "
                          "'  0: this is not a socket line at all'") for w in c["warnings"]), c["warnings"]
    assert [l["port"] for l in facts["listeners"]] == [22]


def test_samples_give_min_max_last(proc):
    facts = gather(Options(backend="procfs", proc_root=proc, samples=3, interval=0))
    stats = facts["counts_stats"]
    assert stats["tcp"]["LISTEN"] == {"min": 2, "max": 2, "last": 2}
    assert facts["collector"]["samples"] == 3


@pytest.mark.parametrize("kwargs,needle", [
    (dict(protocols=["sctp"]), "unknown protocol"),
    (dict(connections="many"), "connections"),
    (dict(samples=0), "samples"),
    (dict(backend="magic"), "backend"),
])
def test_bad_options(kwargs, needle):
    with pytest.raises(_common.NetstatError) as err:
        Options(**kwargs)
    assert needle in str(err.value)


def test_auto_falls_through_and_says_why(proc):
    facts = gather(Options(proc_root=proc))
    c = facts["collector"]
    assert c["backend"] == "procfs"
    assert c["backends_tried"][0]["name"] == "netlink" and "proc_root" in c["backends_tried"][0]["reason"]


def test_owner_walk_until_found_follows_children_only(tmp_path):
    proc = make_proc(
        tmp_path,
        {
            10: dict(comm="master", fds=[11]),
            11: dict(comm="worker", ppid=10, fds=[11, 99]),
            12: dict(comm="stranger", ppid=1, fds=[11]),  # got the socket another way
            13: dict(comm="grandchild", ppid=11, fds=[]),
            30: dict(comm="late child", ppid=10, fds=[11]),
        },
    )
    quick = OwnerResolver(proc)
    # chunk=0: no first pass over the low descriptors, so the stranger is never read
    assert quick.resolve({11}, until_found=True, chunk=0) == {11: (10, 11, 30)}
    assert quick.skipped == 1  # the stranger; children (and grandchildren) of holders are read
    first_pass = OwnerResolver(proc)
    # with the default first pass over low descriptors everyone holding it there is found
    assert first_pass.resolve({11}, until_found=True) == {11: (10, 11, 12, 30)}
    assert first_pass.skipped == 0
    full = OwnerResolver(proc)
    assert full.resolve({11}) == {11: (10, 11, 12, 30)}
    assert full.skipped == 0


def test_owner_scan_option(proc):
    quick = gather(Options(backend="procfs", proc_root=proc))
    full = gather(Options(backend="procfs", proc_root=proc, owner_scan="all"))
    assert quick["collector"]["owner_scan"] == "until_found" and full["collector"]["owner_scan"] == "all"
    # nginx master and both workers hold the listener: found either way
    assert quick["listeners"] == full["listeners"]
    assert quick["collector"]["processes_skipped"] >= 0 and full["collector"]["processes_skipped"] == 0


@pytest.mark.parametrize("share_size", [1024, 7])
def test_threaded_walk_equals_serial_walk(tmp_path, monkeypatch, share_size):
    """The full walk with several walker threads maps every socket exactly as one thread does,
    sockets shared between processes included, and counts processes the same."""
    processes = {}
    for pid in range(100, 160):
        # every process holds 40 sockets of its own and one shared by all of its group of ten
        processes[pid] = dict(comm="w%d" % pid, fds=[pid * 1000 + i for i in range(40)] + [pid // 10], ppid=1)
    processes[170] = dict(comm="locked", fd="unreadable")
    processes[171] = dict(comm="gone", fd="vanished")
    proc = make_proc(tmp_path, processes)
    # 7: every process is shared out between the walkers in parts of 7 descriptors
    monkeypatch.setattr(_owners, "SHARE_SIZE", share_size)
    serial = OwnerResolver(proc, walkers=1)
    one = serial.resolve()
    for walkers in (2, 4, 8):
        threaded = OwnerResolver(proc, walkers=walkers)
        assert threaded.resolve() == one
        assert (threaded.scanned, threaded.unreadable, threaded.vanished) == (serial.scanned, serial.unreadable, serial.vanished)
    assert one[12] == tuple(range(120, 130))
    assert one[120005] == 120
    assert len(one) == 60 * 40 + 6
    assert (serial.scanned, serial.unreadable, serial.vanished) == (60, 1, 1)
    wanted = OwnerResolver(proc, walkers=3).resolve({12, 150001, 999})
    assert wanted == {12: tuple(range(120, 130)), 150001: 150}


def test_owner_map_values():
    assert owner_pids(None) == () and owner_pids(5) == (5,) and owner_pids((1, 2)) == (1, 2)
    assert _merge(5, 5) == 5
    assert _merge(5, 3) == (3, 5) and _merge(3, 5) == (3, 5)
    assert _merge((3, 5), 4) == (3, 4, 5) and _merge((3, 5), 5) == (3, 5)


def test_process_details_from_status_and_comm(tmp_path):
    """ppid and uid come from status (as on Linux); stat is read only when status lacks them."""
    proc = make_proc(tmp_path, {300: dict(comm="svc (x)", ppid=5, uid=7)})
    base = tmp_path / "300"
    (base / "status").write_text("Name:\tsvc (x)\nUmask:\t0022\nState:\tS\nPPid:\t42\nUid:\t1001\t1001\t1001\t1001\n")
    info = OwnerResolver(proc).process(300)
    assert (info["name"], info["ppid"], info["uid"]) == ("svc (x)", 42, 1001)
    (base / "comm").unlink()
    (base / "status").write_text("Name:\tsvc\n")
    info = OwnerResolver(proc).process(300)
    assert (info["name"], info["ppid"], info["uid"]) == ("svc (x)", 5, None)


def test_compact_processes_are_the_owners_of_what_is_listed(tmp_path):
    """The full walk of a compact gather maps every socket of the host, but `processes` holds only
    the owners of listed sockets (not, say, a process holding only a socket of another table)."""
    proc = make_proc(
        tmp_path,
        {
            10: dict(comm="server", fds=[11]),
            20: dict(comm="client", fds=[13]),
            30: dict(comm="elsewhere", fds=[99]),  # a socket in no table gathered here
        },
        tcp=[
            tcp_line(0, "00000000:0050", "00000000:0000", LISTEN, inode=11),
            tcp_line(1, "0100007F:D000", "0100007F:0050", 0x01, inode=13),
        ],
    )
    facts = gather(Options(backend="procfs", proc_root=proc, connections="compact", unix="none"))
    assert sorted(facts["processes"]) == ["10", "20"]
    assert facts["connections"]["rows"].endswith(" 20")
    assert facts["collector"]["complete"] is True


def test_large_full_list_warns_towards_compact(proc, monkeypatch):
    from ansible_collections.netaudit.netstat.plugins.module_utils import _gather

    assert not [w for w in gather(Options(backend="procfs", proc_root=proc, connections="full"))["collector"]["warnings"]
                if "compact" in w]
    monkeypatch.setattr(_gather, "FULL_LIST_WARN", 2)
    warnings = gather(Options(backend="procfs", proc_root=proc, connections="full"))["collector"]["warnings"]
    assert any("connections=full returned 5 dicts" in w and "connections=compact" in w for w in warnings)


def test_default_gather_asks_the_kernel_for_tcp_listeners_only(monkeypatch):
    """A default gather dumps TCP sockets twice per family at most: the state counts (every state)
    and the listeners (LISTEN alone). Asking for CLOSE with LISTEN makes the kernel walk every
    established socket for nothing (the established table never holds a TCP socket in CLOSE)."""
    try:
        _netlink.NetlinkBackend().check()
    except _common.NetstatError as exc:
        pytest.fail("sock_diag is not usable here: %s" % exc)
    asked = []
    original = _netlink.NetlinkBackend._replies

    def replies(self, request, what):
        family, proto = request[16], request[17]
        if family in (socket.AF_INET, socket.AF_INET6):
            asked.append((proto, struct.unpack_from("=I", bytes(request), 20)[0]))
        return original(self, request, what)

    monkeypatch.setattr(_netlink.NetlinkBackend, "_replies", replies)
    facts = gather(Options(backend="netlink"))
    assert facts["collector"]["backend"] == "netlink"
    tcp = [mask for proto, mask in asked if proto == socket.IPPROTO_TCP and mask]
    listen = 1 << _netlink.TCP_LISTEN
    assert sorted(tcp) == sorted([listen, listen, _netlink.ALL_STATES, _netlink.ALL_STATES]), [hex(m) for m in tcp]
    udp = [mask for proto, mask in asked if proto == socket.IPPROTO_UDP and mask and mask != _netlink.ALL_STATES]
    assert udp and all(mask == 1 << _netlink.TCP_CLOSE for mask in udp)
