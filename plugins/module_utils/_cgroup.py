# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The systemd unit and the container of a process, from /proc/PID/cgroup.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
Standard library only: it runs on the managed host (Python 3.8+).

/proc/PID/cgroup has a line per hierarchy, ``ID:CONTROLLERS:PATH``: cgroup v2 is the line
``0::PATH``; on a v1 (or hybrid) host systemd keeps its tree in ``name=systemd``. The path is
what systemd and the container runtimes chose, in these shapes:

- systemd: ``/system.slice/nginx.service``, ``/user.slice/user-1000.slice/session-3.scope``,
  ``/system.slice/system-getty.slice/getty@tty1.service``;
- Docker: ``/docker/<64 hex>`` (cgroupfs driver), ``/system.slice/docker-<64 hex>.scope``
  (systemd driver);
- containerd / CRI-O under Kubernetes: ``/kubepods/burstable/pod<uid>/<64 hex>``,
  ``/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_with_underscores>.slice/
  cri-containerd-<64 hex>.scope`` (or ``crio-<64 hex>.scope``);
- podman: ``/machine.slice/libpod-<64 hex>.scope``, ``/libpod_parent/libpod-<64 hex>``;
- LXC: ``/lxc/<name>``, ``/lxc.payload.<name>``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_HEX64 = r"[0-9a-f]{64}"
_CONTAINER_PATTERNS = (
    ("docker", re.compile(r"(?:^|/)docker[-/](" + _HEX64 + r")(?:\.scope)?(?:/|$)")),
    ("containerd", re.compile(r"(?:^|/)cri-containerd-(" + _HEX64 + r")\.scope(?:/|$)")),
    ("cri-o", re.compile(r"(?:^|/)crio-(?:conmon-)?(" + _HEX64 + r")\.scope(?:/|$)")),
    ("podman", re.compile(r"(?:^|/)libpod-(?:conmon-)?(" + _HEX64 + r")(?:\.scope)?(?:/|$)")),
    # kubepods (cgroupfs driver): the container id is the last component under the pod
    ("kubernetes", re.compile(r"(?:^|/)kubepods(?:/[a-z]+)?/pod[0-9a-f-]+/(" + _HEX64 + r")(?:/|$)")),
    ("lxc", re.compile(r"(?:^|/)lxc(?:\.payload)?[./]([^/]+)(?:/|$)")),
)
_POD = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
_UNIT_SUFFIXES = (".service", ".scope", ".socket", ".mount", ".swap", ".timer", ".target", ".path")


def cgroup_path(text):
    """The path that names the process's place: the v2 line, else systemd's v1 tree, else the
    first path of a v1 controller that is not the root."""
    v2 = systemd = other = None
    for line in (text or "").splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        hid, controllers, path = parts
        if hid == "0" and controllers == "" and path not in ("", "/"):
            v2 = path
        elif controllers == "name=systemd" and path not in ("", "/"):
            systemd = path
        elif path not in ("", "/") and other is None:
            other = path
    return v2 or systemd or other


def parse_cgroup(text):
    """{unit, slice, container: {id, runtime} or None, pod_uid} from /proc/PID/cgroup text (every
    value None when nothing is known)."""
    path = cgroup_path(text)
    out = {"cgroup": path, "unit": None, "slice": None, "container": None, "pod_uid": None}
    if not path:
        return out
    for runtime, pattern in _CONTAINER_PATTERNS:
        m = pattern.search(path)
        if m:
            out["container"] = {"id": m.group(1), "runtime": runtime}
            break
    pod = _POD.search(path)
    if pod:
        out["pod_uid"] = pod.group(1).replace("_", "-")
    parts = [p for p in path.split("/") if p]
    # the unit is the innermost component that is a unit name (a container's scope included:
    # systemd calls it that); the slice the innermost slice around it
    for i in range(len(parts) - 1, -1, -1):
        if parts[i].endswith(_UNIT_SUFFIXES):
            out["unit"] = parts[i]
            slices = [p for p in parts[:i] if p.endswith(".slice")]
            out["slice"] = slices[-1] if slices else None
            break
    if out["unit"] is None:
        slices = [p for p in parts if p.endswith(".slice")]
        out["slice"] = slices[-1] if slices else None
    return out


def read_cgroup(proc_root, pid):
    """parse_cgroup() of /proc/PID/cgroup, or None when it cannot be read (process gone)."""
    try:
        with open("%s/%d/cgroup" % (proc_root, pid), "rb") as f:
            text = f.read().decode("utf-8", "backslashreplace")
    except (OSError, IOError):
        return None
    return parse_cgroup(text)
