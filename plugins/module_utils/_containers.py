# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Containers as the runtime names them: name, image, published ports, Kubernetes pod.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
Standard library only: it runs on the managed host (Python 3.8+).

The container id of a process comes from its cgroup (_cgroup.py). Its name, image and port
bindings come from the runtime: the Docker Engine API on its UNIX socket (podman serves the
same API on ``/run/podman/podman.sock``), one ``GET /containers/json`` for all running
containers. A runtime that cannot be read leaves the ids and says why (``error``).

A port published by Docker is held on the host by ``docker-proxy`` (its command line names the
container's address and port), or, with ``--userland-proxy=false``, by no socket at all (NAT
rules only): `published()` lists every binding the runtime reports, each saying whether a host
socket holds it, so that a policy sees a NAT-only port too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket

# The API sockets asked by default, defined in _common (with RUNTIME_PROGRAMS): every gather imports
# _common, and this file only when containers are involved.
from ansible_collections.netaudit.netstat.plugins.module_utils._common import CONTAINER_SOCKETS as DEFAULT_SOCKETS
TIMEOUT = 5.0
MAX_RESPONSE = 64 * 1024 * 1024
# labels that name the Kubernetes pod and the compose service of a container
_LABELS = (
    ("pod", "io.kubernetes.pod.name"),
    ("pod_namespace", "io.kubernetes.pod.namespace"),
    ("compose_project", "com.docker.compose.project"),
    ("compose_service", "com.docker.compose.service"),
)


class RuntimeError_(Exception):
    """The runtime's API could not be read; the message says why."""


def _connection(path, timeout):
    """An http.client connection over the UNIX socket `path` (http.client is imported only on a
    host that has a runtime socket: a plain host does not pay for it)."""
    import http.client

    class UnixHTTPConnection(http.client.HTTPConnection):
        def connect(self):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(path)
            except Exception:
                sock.close()
                raise
            self.sock = sock

    return UnixHTTPConnection("localhost", timeout=timeout), http.client.HTTPException


def api_raw(path, url, timeout=TIMEOUT, method="GET"):
    """`method` (GET) `url` of the Engine API at the UNIX socket `path`; the body (bytes)."""
    conn, http_error = _connection(path, timeout)
    try:
        conn.request(method, url, headers={"Host": "docker"})
        resp = conn.getresponse()
        body = resp.read(MAX_RESPONSE + 1)
        if resp.status not in (200, 204):
            raise RuntimeError_("%s %s: HTTP %d %s" % (path, url, resp.status, body[:200].decode("utf-8", "replace").strip()))
        if len(body) > MAX_RESPONSE:
            raise RuntimeError_("%s %s: the answer is larger than %d bytes" % (path, url, MAX_RESPONSE))
        return body
    except (OSError, socket.error, http_error) as exc:
        raise RuntimeError_("%s: %s" % (path, getattr(exc, "strerror", None) or exc))
    finally:
        conn.close()


def api_get(path, url, timeout=TIMEOUT):
    """GET `url` from the Engine API at the UNIX socket `path`; the decoded JSON."""
    body = api_raw(path, url, timeout)
    try:
        return json.loads(body.decode("utf-8", "replace"))
    except ValueError as exc:
        raise RuntimeError_("%s %s: not JSON: %s" % (path, url, exc))


def remove_container(path, name):
    """Remove a container, running or not, with its anonymous volumes (docker rm -f -v)."""
    api_raw(path, "/containers/%s?force=1&v=1" % name, method="DELETE")


def demux_logs(raw):
    """The payload of a /logs answer: Docker multiplexes stdout and stderr in frames (a byte of
    stream, three of padding, a big-endian 32-bit length) unless the container has a TTY."""
    if len(raw) < 8 or raw[0] not in (0, 1, 2) or raw[1:4] != b"\0\0\0":
        return raw
    out = []
    pos = 0
    while pos + 8 <= len(raw):
        size = int.from_bytes(raw[pos + 4:pos + 8], "big")
        out.append(raw[pos + 8:pos + 8 + size])
        pos += 8 + size
    return b"".join(out)


def _text(value):
    return value if isinstance(value, str) else None


def _container(raw, runtime):
    """One entry of /containers/json as the facts carry it."""
    if not isinstance(raw, dict) or not isinstance(raw.get("Id"), str):
        return None
    names = [n.lstrip("/") for n in raw.get("Names") or [] if isinstance(n, str)]
    labels = raw.get("Labels") if isinstance(raw.get("Labels"), dict) else {}
    out = {
        "id": raw["Id"],
        "name": names[0] if names else None,
        "image": _text(raw.get("Image")),
        "runtime": runtime,
        "network_mode": _text(raw["HostConfig"].get("NetworkMode")) if isinstance(raw.get("HostConfig"), dict) else None,
    }
    for key, label in _LABELS:
        if isinstance(labels.get(label), str):
            out[key] = labels[label]
    addresses = []
    networks = ((raw.get("NetworkSettings") or {}).get("Networks") or {}) if isinstance(raw.get("NetworkSettings"), dict) else {}
    if isinstance(networks, dict):
        for net in networks.values():
            if isinstance(net, dict):
                for key in ("IPAddress", "GlobalIPv6Address"):
                    if isinstance(net.get(key), str) and net[key]:
                        addresses.append(net[key])
    ports = []
    for p in raw.get("Ports") or []:
        if not isinstance(p, dict) or not isinstance(p.get("PrivatePort"), int):
            continue
        ports.append({
            "proto": p.get("Type") if p.get("Type") in ("tcp", "udp", "sctp") else "tcp",
            "host_address": _text(p.get("IP")),
            "host_port": p.get("PublicPort") if isinstance(p.get("PublicPort"), int) else None,
            "container_port": p["PrivatePort"],
        })
    return out, sorted(set(addresses)), ports


class Runtime(object):
    """The running containers of the Docker-compatible runtimes reachable on this host."""

    def __init__(self, sockets=DEFAULT_SOCKETS):
        self.sockets = list(sockets)
        self.by_id = {}
        self.by_address = {}
        self.ports = {}  # id -> [binding]
        self.read = []  # the sockets that answered
        self.errors = []  # why a socket that exists could not be read

    def load(self):
        for path in self.sockets:
            if not os.path.exists(path):
                continue
            runtime = "podman" if "podman" in os.path.basename(path) else "docker"
            try:
                listing = api_get(path, "/containers/json")
            except RuntimeError_ as exc:
                self.errors.append(str(exc))
                continue
            if not isinstance(listing, list):
                self.errors.append("%s /containers/json: not a list" % path)
                continue
            self.read.append(path)
            for raw in listing:
                got = _container(raw, runtime)
                if got is None:
                    continue
                info, addresses, ports = got
                self.by_id.setdefault(info["id"], info)
                self.ports.setdefault(info["id"], ports)
                for address in addresses:
                    self.by_address.setdefault(address, info["id"])
        return self

    def describe(self, cid, runtime=None):
        """{id, runtime, name, image, …} of a container id (the cgroup's {id, runtime} when the
        runtime does not know it)."""
        info = self.by_id.get(cid)
        if info is None:
            return {"id": cid, "runtime": runtime, "name": None, "image": None}
        out = dict(info)
        out.pop("network_mode", None)
        if runtime and not out.get("runtime"):
            out["runtime"] = runtime
        return out

    def find(self, selector):
        """The ids of the containers a `container:` selector names: a name, an id or an id prefix."""
        hits = [cid for cid, info in self.by_id.items() if info.get("name") == selector or cid == selector]
        if not hits and len(selector) >= 4:
            hits = [cid for cid in self.by_id if cid.startswith(selector)]
        return sorted(hits)


def proxy_target(cmdline):
    """(proto, container address, container port, host address, host port) from a docker-proxy
    command line (a list of arguments), or None."""
    if not cmdline:
        return None
    args = list(cmdline)
    if not args or os.path.basename(args[0]) != "docker-proxy":
        return None
    values = {}
    for i, arg in enumerate(args[:-1]):
        if arg.startswith("-") and not args[i + 1].startswith("-"):
            values[arg.lstrip("-")] = args[i + 1]
    try:
        return (values.get("proto", "tcp"), values["container-ip"], int(values["container-port"]),
                values.get("host-ip"), int(values["host-port"]))
    except (KeyError, ValueError):
        return None
