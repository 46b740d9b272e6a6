# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespace discovery and selectors on canned /proc trees, the runtime API client against a real
HTTP server on a UNIX socket of the test's own, docker-proxy command lines. (The real thing, on a
Docker daemon and against nsenter ss, is in tests/containers.)"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import threading

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.netaudit.netstat.plugins.module_utils import _containers as C
from ansible_collections.netaudit.netstat.plugins.module_utils import _gather as G
from ansible_collections.netaudit.netstat.plugins.module_utils import _netns as N
from ansible_collections.netaudit.netstat.plugins.module_utils._common import NetstatError

HEX = "c" * 64


def proc_tree(tmp_path, pids, mounts=""):
    """A /proc with ns/net links ({pid: inode}), cgroups and a mountinfo for `self`."""
    root = tmp_path / "proc"
    for pid, (inode, cgroup) in pids.items():
        d = root / str(pid) / "ns"
        d.mkdir(parents=True)
        os.symlink("net:[%d]" % inode, str(d / "net"))
        (root / str(pid) / "cgroup").write_text(cgroup)
    (root / "self").mkdir(parents=True, exist_ok=True)
    (root / "self" / "mountinfo").write_text(mounts)
    return str(root)


MOUNTS = (
    "25 1 0:22 / / rw - ext4 /dev/sda rw\n"
    "95 27 0:4 net:[4026532500] /run/netns/blue rw - nsfs nsfs rw\n"
    "96 27 0:4 net:[4026532600] /run/docker/netns/c54f6e46af26 rw - nsfs nsfs rw\n"
    "97 27 0:4 net:[4026532700] /run/netns/with\\040space rw - nsfs nsfs rw\n"
    "98 27 0:4 mnt:[4026532800] /run/mntns/x rw - nsfs nsfs rw\n"
)


def test_discover_processes_and_pinned_files(tmp_path):
    root = proc_tree(tmp_path, {1: (4026531833, "0::/\n"), 50: (4026532600, "0::/docker/%s\n" % HEX),
                                51: (4026532600, "0::/docker/%s\n" % HEX), 7: (4026531833, "0::/\n")}, MOUNTS)
    found = N.discover(root)
    assert sorted(found) == [4026531833, 4026532500, 4026532600, 4026532700]
    assert found[4026531833].pids == [1, 7] and found[4026531833].pid == 1
    assert found[4026532500].names == ["blue"] and found[4026532500].pid is None
    assert found[4026532500].open_path(root) == "/run/netns/blue"
    assert found[4026532600].runtime_names == ["docker:c54f6e46af26"] and found[4026532600].pids == [50, 51]
    assert found[4026532700].names == ["with space"]
    assert N.link_inode("net:[12]") == 12 and N.link_inode("mnt:[12]") is None and N.link_inode("net:[x]") is None


def _options(root, namespaces):
    return G.Options(proc_root=root, namespaces=namespaces, container_runtime="none")


def test_selectors(tmp_path):
    root = proc_tree(tmp_path, {1: (4026531833, "0::/\n"), 50: (4026532600, "0::/docker/%s\n" % HEX)}, MOUNTS)
    (tmp_path / "proc" / "self" / "ns").mkdir()
    os.symlink("net:[4026531833]", str(tmp_path / "proc" / "self" / "ns" / "net"))
    spaces, missing, found = G._plan(_options(root, ["blue", "pid:50", "4026532700", "current", "blue"]), 4026531833,
                                     lambda: None, G._NsContainers(root))
    assert [s.ns.inode for s in spaces] == [4026532500, 4026532600, 4026532700, 4026531833]
    assert spaces[0].primary and not spaces[0].current and spaces[3].current
    assert [s.selector for s in spaces] == ["blue", "pid:50", "4026532700", "current"]
    assert missing == []
    # the container id (prefix) from the cgroups when no runtime answers
    spaces, missing, found = G._plan(_options(root, ["container:cccccccc", "container:nosuch", "pid:999", "red"]),
                                     4026531833, lambda: None, G._NsContainers(root))
    assert [s.ns.inode for s in spaces] == [4026532600]
    assert len(missing) == 3
    assert any("container:nosuch" in m and "no runtime API answered" in m for m in missing)
    assert any("pid:999" in m for m in missing) and any("red:" in m for m in missing)
    # all: the current namespace first (primary), then every other one by inode
    spaces, missing, found = G._plan(_options(root, "all"), 4026531833, lambda: None, G._NsContainers(root))
    assert [s.ns.inode for s in spaces] == [4026531833, 4026532500, 4026532600, 4026532700]
    assert spaces[0].primary and spaces[0].current


@pytest.mark.parametrize("value, want", [
    (None, "current"), ("current", "current"), (" all ", "all"), ("container:web", ["container:web"]),
    ("container:web, pid:5", ["container:web", "pid:5"]), (4026531833, ["4026531833"]), (["a", "b"], ["a", "b"]),
])
def test_namespaces_option(value, want):
    assert G.namespaces_option(value) == want


@pytest.mark.parametrize("bad", [[], [""], [None], [True], {"a": 1}, 3.5])
def test_bad_namespaces_are_clear_errors(bad):
    with pytest.raises(NetstatError, match="namespaces"):
        G.Options(namespaces=G.namespaces_option(bad) if isinstance(bad, str) else bad)


def test_a_namespace_that_cannot_be_read_is_incomplete(tmp_path, monkeypatch):
    """A pinned namespace that setns cannot enter and that has no process: reason, not a crash."""
    space = G._Space(N.Namespace(4026532500), False, "blue")
    space.ns.paths.append(str(tmp_path / "no-such-nsfs-file"))
    opts = G.Options(container_runtime="none")
    with pytest.raises(NetstatError, match="cannot be entered"):
        G._foreign_scan(space, "auto", opts, None, None, True)


# --------------------------------------------------------------------------------------------
# the runtime API client, against a real HTTP/1.1 server on a UNIX socket


class FakeEngine(object):
    def __init__(self, path, status=200, body=None):
        self.path = path
        self.status = status
        self.body = body
        self.requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn = self.sock.accept()[0]
            except OSError:
                return
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            self.requests.append(data.split(b"\r\n")[0].decode())
            body = self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()
            conn.sendall(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                         % (self.status, len(body)) + body)
            conn.close()

    def close(self):
        self.sock.close()


LISTING = [
    {"Id": HEX, "Names": ["/web"], "Image": "nginx:1.25",
     "Labels": {"io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "shop"},
     "Ports": [{"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
               {"PrivatePort": 443, "Type": "tcp"}, {"IP": "::", "PrivatePort": 53, "PublicPort": 5353, "Type": "udp"}],
     "HostConfig": {"NetworkMode": "bridge"},
     "NetworkSettings": {"Networks": {"bridge": {"IPAddress": "172.17.0.2", "GlobalIPv6Address": ""}}}},
    {"Id": 5, "Names": "bad"},  # not a container entry: skipped
    "junk",
]


def test_runtime_reads_names_images_ports(tmp_path):
    path = str(tmp_path / "docker.sock")
    engine = FakeEngine(path, body=LISTING)
    try:
        rt = C.Runtime([path, str(tmp_path / "absent.sock")]).load()
    finally:
        engine.close()
    assert engine.requests == ["GET /containers/json HTTP/1.1"]
    assert rt.read == [path] and rt.errors == []
    info = rt.describe(HEX, "docker")
    assert info == {"id": HEX, "name": "web", "image": "nginx:1.25", "runtime": "docker", "pod": "web-0",
                    "pod_namespace": "shop"}
    assert rt.by_address == {"172.17.0.2": HEX}
    assert rt.ports[HEX] == [
        {"proto": "tcp", "host_address": "0.0.0.0", "host_port": 8080, "container_port": 80},
        {"proto": "tcp", "host_address": None, "host_port": None, "container_port": 443},
        {"proto": "udp", "host_address": "::", "host_port": 5353, "container_port": 53},
    ]
    assert rt.find("web") == [HEX] and rt.find(HEX[:12]) == [HEX] and rt.find("db") == [] and rt.find("c") == []
    assert rt.describe("d" * 64, "podman") == {"id": "d" * 64, "runtime": "podman", "name": None, "image": None}


@pytest.mark.parametrize("status, body, why", [
    (500, {"message": "boom"}, "HTTP 500"),
    (200, b"{not json", "not JSON"),
    (200, {"a": 1}, "not a list"),
])
def test_runtime_errors_are_said(tmp_path, status, body, why):
    path = str(tmp_path / "docker.sock")
    engine = FakeEngine(path, status=status, body=body)
    try:
        rt = C.Runtime([path]).load()
    finally:
        engine.close()
    assert rt.read == [] and rt.by_id == {}
    assert len(rt.errors) == 1 and why in rt.errors[0] and path in rt.errors[0]


def test_runtime_socket_that_refuses(tmp_path):
    path = str(tmp_path / "docker.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)  # bound, never listening: connect is refused
    try:
        rt = C.Runtime([path]).load()
    finally:
        s.close()
    assert rt.read == [] and len(rt.errors) == 1 and path in rt.errors[0]


def test_proxy_target():
    cmd = "/usr/sbin/docker-proxy -proto udp -host-ip 0.0.0.0 -host-port 5353 -container-ip 172.17.0.2 -container-port 53"
    assert C.proxy_target(cmd.split()) == ("udp", "172.17.0.2", 53, "0.0.0.0", 5353)
    assert C.proxy_target("nginx -g daemon".split()) is None
    assert C.proxy_target("docker-proxy -proto tcp -host-port x".split()) is None
    assert C.proxy_target([]) is None


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.text(max_size=20), max_size=12))
def test_proxy_target_never_raises(args):
    out = C.proxy_target(["docker-proxy"] + args)
    assert out is None or (isinstance(out[2], int) and isinstance(out[4], int))


@settings(max_examples=300, deadline=None, database=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
                    max_leaves=30))
def test_container_entries_of_any_shape(raw):
    """An Engine API answer of any shape gives a container entry or None, never an exception."""
    out = C._container(raw, "docker")
    assert out is None or isinstance(out[0]["id"], str)
    for base in LISTING[:1]:
        mixed = dict(base, **(raw if isinstance(raw, dict) else {}))
        got = C._container(mixed, "docker")
        assert got is None or isinstance(got[0]["id"], str)
