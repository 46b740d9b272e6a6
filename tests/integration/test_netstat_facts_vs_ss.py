# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""netstat_facts through ansible-playbook, on real sockets in a namespace, against `ss`.

The same oracle runs for every backend.
"""

import json
import os
import subprocess

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils._common import compact_rows, parse_compact_row
from netns_helpers import COLLECTIONS, PYTHON, REPO, gather_via_ansible, normalise_address, ss_inet, ss_unix

# The version matrix runs this module on bare managed-host Pythons (no psutil): NETAUDIT_BACKENDS=netlink,procfs
BACKENDS = tuple(os.environ.get("NETAUDIT_BACKENDS", "procfs,netlink,psutil").split(","))
UNIX_STATES = {"LISTEN": "LISTENING", "ESTAB": "CONNECTED", "UNCONN": "UNCONNECTED"}


@pytest.fixture(scope="module")
def gathered(scenario_ns):
    ns, info = scenario_ns
    args = [dict(backend=b, connections="full", unix="all") for b in BACKENDS]
    args.append(dict())  # defaults
    args.append(dict(owner_scan="all"))
    args.append(dict(connections="compact"))
    facts = gather_via_ansible(ns, args)
    return ns, info, dict(zip(BACKENDS + ("default", "scan_all", "compact"), facts))


def _inet_from_facts(facts):
    rows = []
    for entry in facts["listeners"]:
        rows.append(dict(entry, local_address=entry["address"], local_port=entry["port"],
                         remote_address="0.0.0.0" if entry["family"] == "ipv4" else "::", remote_port=0))
    rows.extend(facts.get("connections", []))
    return rows


def _key(sock):
    return (sock["proto"], sock["state"], normalise_address(sock["local_address"]), sock["local_port"],
            normalise_address(sock["remote_address"]), sock["remote_port"])


@pytest.mark.parametrize("backend", BACKENDS)
def test_inet_sockets_match_ss(gathered, backend):
    ns, info, by_backend = gathered
    facts = by_backend[backend]
    assert facts["collector"]["backend"] == backend
    assert facts["collector"]["complete"] is True, facts["collector"]["reasons"]
    ours = _inet_from_facts(facts)
    theirs = ss_inet(ns)
    assert sorted(_key(s) for s in ours) == sorted(_key(s) for s in theirs)

    pids_by_key = dict((_key(s), sorted(p["pid"] for p in s["processes"])) for s in ours)
    for sock in theirs:
        assert pids_by_key[_key(sock)] == sock["pids"], sock
    if backend == "psutil":
        return  # psutil reports no queues, inodes or uids
    by_inode = dict((s["inode"], s) for s in ours if s["inode"])
    for sock in theirs:
        if not sock["inode"]:
            continue
        mine = by_inode[sock["inode"]]
        assert _key(mine) == _key(sock)
        assert mine["recv_q"] == sock["recv_q"], sock
        if sock["state"] == "LISTEN" and sock["proto"] == "tcp":
            # ss shows a listener's backlog as Send-Q
            if mine.get("backlog") is not None:
                assert mine["backlog"] == sock["send_q"]
        else:
            assert mine["send_q"] == sock["send_q"], sock
        if backend == "netlink" and sock["v6only"] is not None:
            assert mine["v6only"] is bool(sock["v6only"]), sock


@pytest.mark.parametrize("backend", BACKENDS)
def test_unix_sockets_match_ss(gathered, backend):
    ns, info, by_backend = gathered
    facts = by_backend[backend]
    theirs = ss_unix(ns)
    ours = facts["unix"]
    if backend == "psutil":
        # psutil only sees sockets that some process holds, without inodes: compare paths and pids
        def k(s):
            return (s["path"], sorted(p["pid"] for p in s["processes"]) if "processes" in s else s["pids"])
        named = [s for s in theirs if s["path"]]
        assert sorted((s["path"], s["pids"]) for s in named) == sorted(
            (s["path"], sorted(p["pid"] for p in s["processes"])) for s in ours if s["path"])
        return
    assert sorted(s["inode"] for s in ours) == sorted(s["inode"] for s in theirs)
    mine = dict((s["inode"], s) for s in ours)
    for sock in theirs:
        entry = mine[sock["inode"]]
        assert entry["path"] == sock["path"], sock
        assert entry["type"] == sock["type"], sock
        assert entry["state"] == UNIX_STATES[sock["state"]], sock
        assert sorted(p["pid"] for p in entry["processes"]) == sock["pids"], sock


@pytest.mark.parametrize("backend", BACKENDS)
def test_scenario_facts(gathered, backend):
    ns, info, by_backend = gathered
    facts = by_backend[backend]
    ports = info["ports"]
    listeners = dict(((l["proto"], l["port"]), l) for l in facts["listeners"])
    shared = listeners[("tcp", ports["tcp4_shared"])]
    assert [p["pid"] for p in shared["processes"]] == sorted([info["pid"]] + info["children"])
    assert "nét srv x" in [p["name"] for p in shared["processes"]]
    assert shared["exposure"] == "wildcard"
    assert listeners[("tcp", ports["tcp4_loopback"])]["exposure"] == "loopback"
    assert listeners[("tcp", ports["tcp6_loopback"])]["family"] == "ipv6"
    assert listeners[("udp", ports["udp4"])]["state"] == "CLOSED"
    single = listeners[("tcp", ports["tcp4_loopback"])]["processes"]
    assert [p["pid"] for p in single] == [info["pid"]]
    assert single[0]["cmdline"].endswith("scenario.py 7000 %s" % ns.tmpdir)
    if backend == "netlink":
        assert listeners[("tcp", ports["tcp_dual"])]["v6only"] is False
        assert listeners[("tcp", ports["tcp6_loopback"])]["v6only"] is True
        assert listeners[("tcp", ports["tcp4_loopback"])]["backlog"] == 17
    counts = facts["counts"]
    assert counts["tcp"]["LISTEN"] == 4
    assert counts["tcp"]["ESTABLISHED"] == 2
    assert counts["tcp"]["TIME_WAIT"] == 1
    assert counts["udp"]["CLOSED"] == 2
    assert set(counts["tcp"]) == {"LISTEN", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT1", "FIN_WAIT2",
                                  "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSING", "CLOSED", "UNKNOWN"}
    paths = dict((u["path"], u) for u in facts["unix"])
    abstract = paths[info["unix"]["abstract"]]
    assert abstract["abstract"] is True and abstract["state"] == "LISTENING"
    assert paths[info["unix"]["stream"]]["flags"] == ["ACC"]
    assert paths[info["unix"]["dgram"]]["type"] == "dgram"
    if backend != "psutil":
        conns = facts["connections"]
        server = [c for c in conns if c["state"] == "ESTABLISHED" and c["remote_port"] == info["established"]["client_port"]]
        assert len(server) == 1 and server[0]["recv_q"] == 100
        tw = [c for c in conns if c["state"] == "TIME_WAIT"]
        assert [c["local_port"] for c in tw] == [info["time_wait_port"]] and tw[0]["processes"] == []
        assert paths[info["unix"]["stream"]]["mode"] is not None


def test_defaults_list_listeners_and_count_the_rest(gathered):
    ns, info, by_backend = gathered
    facts = by_backend["default"]
    assert "connections" not in facts
    assert facts["collector"]["connections"] == "counts"
    assert facts["collector"]["backend"] == "netlink"
    assert facts["counts"]["tcp"]["ESTABLISHED"] == 2
    assert facts["counts"]["tcp"]["TIME_WAIT"] == 1
    assert len(facts["listeners"]) == 6
    # stopping the owner walk early finds the same owners here, shared listener included
    assert facts["collector"]["owner_scan"] == "until_found"
    assert facts["listeners"] == by_backend["scan_all"]["listeners"]
    shared = [l for l in facts["listeners"] if l["port"] == info["ports"]["tcp4_shared"]][0]
    assert len(shared["processes"]) == 3
    # default unix: bound sockets only (the three named ones in the scenario)
    assert sorted(u["path"] for u in facts["unix"]) == sorted(info["unix"].values())


def _run_module_direct(ns, args, user=None):
    """Run the module file the way Ansible does (args JSON file), optionally as another user."""
    argsfile = os.path.join(ns.tmpdir, "args.json")
    with open(argsfile, "w") as f:
        json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
    os.chmod(argsfile, 0o644)
    argv = ns.cmd([])
    if user:
        argv += ["setpriv", "--reuid=%s" % user, "--regid=%s" % user, "--clear-groups"]
    argv += [PYTHON, os.path.join(REPO, "plugins", "modules", "netstat_facts.py"), argsfile]
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd="/", check=False)
    return res, json.loads(res.stdout)


@pytest.mark.parametrize("backend", ("procfs", "netlink"))
def test_unprivileged_run_is_incomplete_not_an_error(scenario_ns, backend):
    ns, info = scenario_ns
    res, out = _run_module_direct(ns, {"backend": backend}, user="65534")
    assert res.returncode == 0, res.stdout + res.stderr
    assert not out.get("failed"), out
    collector = out["ansible_facts"]["netstat"]["collector"]
    assert collector["complete"] is False
    assert collector["is_root"] is False
    assert any("not root" in r for r in collector["reasons"]), collector["reasons"]
    # the sockets are still all there, only the owners are missing
    ports = sorted(l["port"] for l in out["ansible_facts"]["netstat"]["listeners"])
    assert ports == sorted(info["ports"].values())


def test_named_backend_that_cannot_run_fails_cleanly(scenario_ns, tmp_path):
    ns, info = scenario_ns
    res, out = _run_module_direct(ns, {"backend": "procfs", "proc_root": str(tmp_path)})
    assert out["failed"] is True
    assert "does not exist" in out["msg"]
    assert "Traceback" not in out["msg"]


def test_compact_rows_carry_what_full_dicts_carry(gathered):
    ns, info, by_backend = gathered
    compact = by_backend["compact"]["connections"]
    rows = [parse_compact_row(compact["columns"], r) for r in compact_rows(compact["rows"])]
    assert compact["count"] == len(rows) == 3  # two ESTABLISHED ends and the TIME_WAIT socket
    full = by_backend["netlink"]["connections"]
    as_rows = sorted((c["proto"], c["state"], c["local_address"], c["local_port"], c["remote_address"],
                      c["remote_port"], c["recv_q"], c["inode"], sorted(p["pid"] for p in c["processes"])) for c in full)
    assert sorted((r["proto"], r["state"], r["local_address"], r["local_port"], r["remote_address"],
                   r["remote_port"], r["recv_q"], r["inode"], r["pids"]) for r in rows) == as_rows
    # every owner a row names is described in `processes`, and nothing else is there but the
    # owners of the listed listeners and UNIX sockets
    processes = by_backend["compact"]["processes"]
    named = set(str(pid) for r in rows for pid in r["pids"])
    named.update(str(p["pid"]) for entry in by_backend["compact"]["listeners"] + by_backend["compact"].get("unix", [])
                 for p in entry["processes"])
    assert named and set(processes) == named
    assert all(processes[pid]["pid"] == int(pid) and processes[pid]["name"] for pid in named)
    # and against ss: the same non-listening sockets
    theirs = [s for s in ss_inet(ns) if s["state"] not in ("LISTEN", "CLOSED")]
    assert sorted(_key(s) for s in theirs) == sorted(_key(r) for r in rows)
