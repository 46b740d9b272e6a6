# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The systemd unit of a socket's owner: a listener moved into a hand-made cgroup in systemd's
shape (system.slice/NAME.service, under the v1 name=systemd hierarchy or cgroup v2) is reported
with that unit through ansible-playbook, on every backend, and its pid is the one ss shows."""
import json
import os
import uuid

import pytest
from netns_helpers import PYTHON, REPO, gather_via_ansible, ss_inet

HELPER = os.path.join(REPO, "tests", "integration", "audit_sockets.py")
BACKENDS = ["netlink", "procfs", "psutil"]


def _hierarchy():
    for root in ("/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
        if os.path.exists(os.path.join(root, "cgroup.procs")):
            return root
    return None


@pytest.fixture
def unit_cgroup():
    root = _hierarchy()
    if root is None:
        pytest.fail("no writable cgroup hierarchy (name=systemd v1 or v2) to make a unit's cgroup in")
    name = "na-%s.service" % uuid.uuid4().hex[:8]
    slice_dir = os.path.join(root, "system.slice")
    made_slice = not os.path.isdir(slice_dir)
    os.makedirs(slice_dir, exist_ok=True)
    unit_dir = os.path.join(slice_dir, name)
    os.mkdir(unit_dir)
    try:
        yield name, unit_dir, root
    finally:
        try:
            with open(os.path.join(unit_dir, "cgroup.procs")) as f:
                for pid in f.read().split():
                    with open(os.path.join(root, "cgroup.procs"), "w") as out:
                        out.write(pid)
        except OSError:
            pass
        os.rmdir(unit_dir)
        if made_slice:
            try:
                os.rmdir(slice_dir)
            except OSError:
                pass


def test_listener_in_a_unit_cgroup_names_the_unit(netns, unit_cgroup):
    name, unit_dir, root = unit_cgroup
    dummy, rest = netns.start([PYTHON, HELPER, json.dumps([{"name": "webd", "tcp": [["0.0.0.0", 8088]]}])])
    pid = json.loads(rest)["webd"]
    with open(os.path.join(unit_dir, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    ss_pids = [s["pids"] for s in ss_inet(netns) if s["local_port"] == 8088 and s["state"] == "LISTEN"]
    assert ss_pids == [[pid]]
    for backend, facts in zip(BACKENDS, gather_via_ansible(netns, [{"backend": b} for b in BACKENDS])):
        lst = [x for x in facts["listeners"] if x["port"] == 8088][0]
        procs = {p["pid"]: p for p in lst["processes"]}
        assert procs[pid]["unit"] == name, (backend, procs[pid])
        assert procs[pid]["container"] is None, backend
