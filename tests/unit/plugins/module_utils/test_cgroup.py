# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The unit and container of a process from /proc/PID/cgroup, in the shapes systemd, Docker,
containerd, CRI-O, podman and LXC write (v1, hybrid and v2 layouts)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils._cgroup import cgroup_path, parse_cgroup

ID = "8302566c9d2ce5b22a3ce6f0030d4c358302566c9d2ce5b22a3ce6f0030d4c35"
POD = "1b7c8f2e-3a4b-4c5d-8e9f-0123456789ab"


@pytest.mark.parametrize(
    "text,unit,slice_,container,pod",
    [
        ("0::/system.slice/nginx.service\n", "nginx.service", "system.slice", None, None),
        ("12:pids:/system.slice/sshd.service\n1:name=systemd:/system.slice/sshd.service\n0::/\n",
         "sshd.service", "system.slice", None, None),
        ("0::/system.slice/system-getty.slice/getty@tty1.service\n", "getty@tty1.service", "system-getty.slice", None, None),
        ("0::/user.slice/user-1000.slice/session-3.scope\n", "session-3.scope", "user-1000.slice", None, None),
        ("4:memory:/docker/%s\n1:name=systemd:/docker/%s\n" % (ID, ID), None, None, ("docker", ID), None),
        ("0::/system.slice/docker-%s.scope\n" % ID, "docker-%s.scope" % ID, "system.slice", ("docker", ID), None),
        ("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod%s.slice/cri-containerd-%s.scope\n"
         % (POD.replace("-", "_"), ID), "cri-containerd-%s.scope" % ID, "kubepods-besteffort-pod%s.slice" % POD.replace("-", "_"),
         ("containerd", ID), POD),
        ("3:cpu:/kubepods/burstable/pod%s/%s\n" % (POD, ID), None, None, ("kubernetes", ID), POD),
        ("0::/machine.slice/libpod-%s.scope/container\n" % ID, "libpod-%s.scope" % ID, "machine.slice", ("podman", ID), None),
        ("0::/system.slice/crio-%s.scope\n" % ID, "crio-%s.scope" % ID, "system.slice", ("cri-o", ID), None),
        ("0::/lxc.payload.web1/init.scope\n", "init.scope", None, ("lxc", "web1"), None),
        ("0::/\n", None, None, None, None),
        ("", None, None, None, None),
        ("garbage without colons\n", None, None, None, None),
    ],
)
def test_parse_cgroup(text, unit, slice_, container, pod):
    got = parse_cgroup(text)
    assert got["unit"] == unit
    assert got["slice"] == slice_
    assert (None if got["container"] is None else (got["container"]["runtime"], got["container"]["id"])) == container
    assert got["pod_uid"] == pod


def test_v2_wins_over_v1_and_systemd_over_other_controllers():
    assert cgroup_path("4:memory:/a\n1:name=systemd:/b.service\n0::/c.service\n") == "/c.service"
    assert cgroup_path("4:memory:/a\n1:name=systemd:/b.service\n0::/\n") == "/b.service"
    assert cgroup_path("4:memory:/process_api/x\n1:name=systemd:/\n0::/\n") == "/process_api/x"
