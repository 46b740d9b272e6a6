# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""netstat_facts with namespaces: all on a real Docker daemon, against `nsenter -t PID -n ss`.

Containers: a busybox httpd published on the IPv4 and IPv6 wildcards, a Python listener (the
host's Python bind-mounted) with TCP and UDP, loopback-only and published-on-loopback sockets, a
container on a user-defined network that publishes nothing, one on the host's network, and one
stopped and started again. Every one is removed after the test.
"""

import json
import os
import socket
import subprocess
import tempfile

import pytest

from docker_helpers import PY_MOUNTS, netns_inode, ss_in, unique
from netns_helpers import PYTHON, normalise_address, run_playbook


# Docker turns IPv6 off in a container's namespace unless asked
IPV6 = ["--sysctl", "net.ipv6.conf.lo.disable_ipv6=0", "--sysctl", "net.ipv6.conf.all.disable_ipv6=0"]


def free_port(family=socket.AF_INET, kind=socket.SOCK_STREAM):
    s = socket.socket(family, kind)
    s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def gather_host(module_args, workdir=None):
    """netaudit.netstat.netstat_facts on this machine (as root, no namespace), through ansible-playbook."""
    workdir = workdir or tempfile.mkdtemp(prefix="natest-")
    out = os.path.join(workdir, "facts.json")
    playbook = (
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - netaudit.netstat.netstat_facts: %s\n      register: r\n"
        "    - ansible.builtin.copy:\n        content: \"{{ r.ansible_facts.netstat | to_json }}\"\n        dest: %s\n"
        % (json.dumps(module_args), out)
    )
    inventory = "dockerhost ansible_connection=local ansible_python_interpreter=%s\n" % PYTHON
    res = run_playbook(workdir, playbook, inventory)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    with open(out) as f:
        return json.load(f)


def _key(proto, address, port):
    return (proto, normalise_address(address), port)


def _ns_listeners(facts, inode):
    return [lst for lst in facts["listeners"] if lst["netns"] == inode]


def _ns_sockets(facts, inode):
    """(proto, local address, local port, remote address, remote port) of every TCP/UDP socket of a namespace."""
    out = []
    for lst in _ns_listeners(facts, inode):
        out.append((lst["proto"], normalise_address(lst["address"]), lst["port"]))
    for c in facts["connections"]:
        if c["netns"] == inode:
            out.append((c["proto"], normalise_address(c["local_address"]), c["local_port"]))
    return sorted(out)


def _ss_listeners(pid):
    out = []
    for s in ss_in(pid):
        if (s["proto"] == "tcp" and s["state"] == "LISTEN") or (s["proto"] == "udp" and s["state"] == "CLOSED"):
            out.append(s)
    return out


def test_all_namespaces_agree_with_nsenter_ss(containers):
    dh = containers
    web, py, netc, hostc, again = (unique(n) for n in ("web", "py", "netc", "hostc", "again"))
    hp4, hp6, hploop, hpudp, hostport = (free_port(), free_port(socket.AF_INET6), free_port(),
                                         free_port(kind=socket.SOCK_DGRAM), free_port())
    net = unique("net")
    dh.docker("network", "create", net)
    ids = {
        web: dh.run(web, "-p", "0.0.0.0:%d:8080" % hp4, "-p", "[::]:%d:8080" % hp6),
        py: dh.run(py, *(PY_MOUNTS + IPV6 + ["-p", "127.0.0.1:%d:9000" % hploop, "-p", "%d:5353/udp" % hpudp]),
                   cmd=["/usr/bin/python3", "/t/listen.py", "tcp4:0.0.0.0:9000", "tcp4:127.0.0.1:9002",
                        "tcp6:::1:9001", "udp4:0.0.0.0:5353"], wait_ready="READY"),
        netc: dh.run(netc, "--network", net, cmd=["/bin/httpd", "-f", "-p", "8081", "-h", "/www"]),
        hostc: dh.run(hostc, "--network", "host", cmd=["/bin/httpd", "-f", "-p", "127.0.0.1:%d" % hostport, "-h", "/www"]),
        again: dh.run(again, cmd=["/bin/httpd", "-f", "-p", "8082", "-h", "/www"]),
    }
    old_pid = dh.pid_of(ids[again])
    dh.docker("stop", "-t", "1", again)
    dh.docker("start", again)
    for name, port in ((web, 8080), (py, 9000), (netc, 8081), (again, 8082)):
        dh.wait_listening(ids[name], port)
    facts = gather_host({"namespaces": "all", "connections": "full"})
    assert facts["collector"]["complete"] or facts["collector"]["reason_codes"] == ["owners-unresolved"], facts["collector"]
    by_inode = {ns["inode"]: ns for ns in facts["namespaces"]}
    # the restarted container: one namespace (the new one: nsfs may give it the old inode), its new process
    restarted = [ns for ns in facts["namespaces"] if [c["name"] for c in ns["containers"]] == [again]]
    assert len(restarted) == 1 and restarted[0]["pid"] == dh.pid_of(ids[again]) != old_pid

    for name in (web, py, netc, again):
        pid = dh.pid_of(ids[name])
        inode = netns_inode(pid)
        assert inode in by_inode, (name, sorted(by_inode))
        ns = by_inode[inode]
        assert ns["complete"] and ns["read_via"] == "netlink (setns)", ns
        assert [c["name"] for c in ns["containers"]] == [name]
        assert ns["containers"][0]["image"] == dh.IMAGE and ns["containers"][0]["id"] == ids[name]
        # every TCP/UDP socket of the namespace, listeners and the rest, as ss sees them there
        assert _ns_sockets(facts, inode) == sorted(
            _key(s["proto"], s["local_address"], s["local_port"]) for s in ss_in(pid)), name
        ours = _ns_listeners(facts, inode)
        theirs = _ss_listeners(pid)
        pids = {_key(s["proto"], s["local_address"], s["local_port"]): s["pids"] for s in theirs}
        for lst in ours:
            assert sorted(p["pid"] for p in lst["processes"]) == pids[_key(lst["proto"], lst["address"], lst["port"])]
            assert lst["container"]["name"] == name and lst["container"]["image"] == dh.IMAGE
            for proc in lst["processes"]:
                if proc["name"] == "dockerd":  # the embedded DNS of a user-defined network: the daemon's socket
                    assert proc["container"] is None and lst["address"] == "127.0.0.11"
                else:
                    assert proc["container"]["name"] == name
        # the counts of each namespace are its own
        tcp_listen = len([s for s in theirs if s["proto"] == "tcp"])
        assert ns["counts"]["tcp"]["LISTEN"] == tcp_listen

    # the Python container: loopback-only, IPv6 and UDP sockets, as ss sees them
    py_inode = netns_inode(dh.pid_of(ids[py]))
    keys = {(lst["proto"], lst["family"], lst["address"], lst["port"]) for lst in _ns_listeners(facts, py_inode)}
    assert ("tcp", "ipv4", "127.0.0.1", 9002) in keys and ("tcp", "ipv6", "::1", 9001) in keys
    assert ("udp", "ipv4", "0.0.0.0", 5353) in keys

    # --network host: the socket is in the host's namespace, its owner in the container
    primary = facts["collector"]["primary_netns"]
    hosted = [lst for lst in _ns_listeners(facts, primary) if lst["port"] == hostport]
    assert len(hosted) == 1 and hosted[0]["container"]["name"] == hostc

    # published ports: docker-proxy on the host names the container it forwards to
    published = {(p["proto"], p["address"], p["port"]): p for p in facts["published"]}
    assert published[("tcp", "0.0.0.0", hp4)]["container"]["name"] == web
    assert published[("tcp", "::", hp6)]["container"]["name"] == web
    assert published[("tcp", "127.0.0.1", hploop)]["container"]["name"] == py
    assert published[("udp", "0.0.0.0", hpudp)]["container_port"] == 5353
    for pub in published.values():
        if pub["container"]["name"] in (web, py):
            assert pub["socket"] is True and pub["held_by"] == ["docker-proxy"], pub
    proxies = [lst for lst in _ns_listeners(facts, primary) if lst.get("forwards_to")]
    fwd = {(lst["proto"], lst["address"], lst["port"]): lst["forwards_to"] for lst in proxies}
    assert fwd[("tcp", "0.0.0.0", hp4)]["port"] == 8080 and fwd[("tcp", "0.0.0.0", hp4)]["container"]["name"] == web
    assert fwd[("udp", "0.0.0.0", hpudp)]["port"] == 5353 and fwd[("udp", "0.0.0.0", hpudp)]["container"]["name"] == py
    # and ss agrees that docker-proxy holds them
    host_ss = {(s["proto"], normalise_address(s["local_address"]), s["local_port"]) for s in _ss_listeners(os.getpid())}
    assert ("tcp", "0.0.0.0", hp4) in host_ss and ("udp", "0.0.0.0", hpudp) in host_ss


def test_selectors_read_just_the_named_namespaces(containers):
    dh = containers
    a, b = unique("sela"), unique("selb")
    ida = dh.run(a)
    idb = dh.run(b, cmd=["/bin/httpd", "-f", "-p", "8083", "-h", "/www"])
    dh.wait_listening(ida, 8080)
    dh.wait_listening(idb, 8083)
    facts = gather_host({"namespaces": ["container:%s" % a, "pid:%d" % dh.pid_of(idb), "container:natest-nosuch"]})
    spaces = facts["namespaces"]
    assert [ns["containers"][0]["name"] for ns in spaces] == [a, b]
    assert spaces[0]["primary"] and not spaces[0]["current"]
    assert facts["collector"]["primary_netns"] == netns_inode(dh.pid_of(ida))
    # the top-level counts are the primary namespace's
    assert facts["counts"]["tcp"]["LISTEN"] == 1
    assert {(lst["port"], lst["container"]["name"]) for lst in facts["listeners"]} == {(8080, a), (8083, b)}
    # a selector that names nothing makes the facts incomplete, and says which
    assert facts["collector"]["complete"] is False
    assert "namespace-unreadable" in facts["collector"]["reason_codes"]
    assert any("container:natest-nosuch" in r for r in facts["collector"]["reasons"])
    # the short id selects too
    facts = gather_host({"namespaces": "container:%s" % idb[:12]})
    assert [lst["port"] for lst in facts["listeners"]] == [8083]


def test_published_ports_without_userland_proxy(containers, docker_daemon):
    """With --userland-proxy=false dockerd itself holds the published port (or, on other
    versions, no socket does): either way the binding names its container."""
    dh = containers
    if not docker_daemon:
        why = "the daemon was not started by this test session: its options are not ours to change"
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    repo_sh = dh.DOCKER_SH
    subprocess.run(["bash", repo_sh, "restart", "--userland-proxy=false"], check=True, capture_output=True, timeout=300)
    try:
        subprocess.run(["bash", repo_sh, "images"], check=True, capture_output=True, timeout=300)
        name = unique("noproxy")
        port = free_port()
        cid = dh.run(name, "-p", "0.0.0.0:%d:8080" % port)
        dh.wait_listening(cid, 8080)
        facts = gather_host({})  # the default: current namespace; the runtime is asked because of the binding
        pub = [p for p in facts["published"] if p["port"] == port]
        assert len(pub) == 1 and pub[0]["container"]["name"] == name and pub[0]["container_port"] == 8080
        held = [lst for lst in facts["listeners"] if lst["port"] == port]
        if pub[0]["socket"]:
            assert [p["name"] for p in held[0]["processes"]] == ["dockerd"]
            assert held[0]["container"]["name"] == name
        else:
            assert not held
    finally:
        dh.cleanup()
        subprocess.run(["bash", repo_sh, "restart"], check=True, capture_output=True, timeout=300)
        subprocess.run(["bash", repo_sh, "images"], check=True, capture_output=True, timeout=300)
