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


SERVER = ("import socket, sys, time\n"
          "s = socket.socket(fileno=3)\n"
          "c = s.accept()[0]\n"
          "c.sendall(b'hi')\n"
          "c.close()\n"
          "time.sleep(120)\n")


def _wait_listen(netns, port, name=None):
    import time

    deadline = time.time() + 15
    while time.time() < deadline:
        # listening and held: ss -p may see the socket a moment before it can name its process
        socks = [s for s in ss_inet(netns) if s["local_port"] == port and s["state"] == "LISTEN" and s["pids"]]
        if socks:
            return socks[0]
        time.sleep(0.1)
    raise AssertionError("nothing listens on %d" % port)


def test_socket_activation_names_the_activator_then_the_service(netns):
    """systemd-socket-activate holds the listener and names what it will start; after the first
    connection the service holds it, handed over through LISTEN_FDS, with the same pid ss shows."""
    import subprocess

    proc = subprocess.Popen(netns.cmd(["/usr/bin/systemd-socket-activate", "-l", "127.0.0.1:7071", PYTHON, "-c", SERVER]),
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    netns.procs.append(proc)
    sock = _wait_listen(netns, 7071)
    assert sock["pids"] == [proc.pid]
    before, = gather_via_ansible(netns, [{}])
    lst = [x for x in before["listeners"] if x["port"] == 7071][0]
    assert [p["pid"] for p in lst["processes"]] == [proc.pid]
    assert lst["activation"]["activator"] == "systemd-socket-activate"
    assert lst["activation"]["state"] == "waiting"
    assert lst["activation"]["serves"].startswith(PYTHON + " -c")
    # the first connection starts the service in the activator's place (it execs)
    res = netns.run([PYTHON, "-c", "import socket; s = socket.create_connection(('127.0.0.1', 7071)); print(s.recv(2))"])
    assert "hi" in res.stdout, res.stderr
    after, = gather_via_ansible(netns, [{}])
    lst = [x for x in after["listeners"] if x["port"] == 7071][0]
    ss_pids = _wait_listen(netns, 7071)["pids"]
    assert [p["pid"] for p in lst["processes"]] == ss_pids == [proc.pid]
    assert lst["processes"][0]["name"] != "systemd-socket-"
    assert lst["activation"] == {"activator": "LISTEN_FDS", "pid": proc.pid, "serves": lst["processes"][0]["cmdline"],
                                 "unit": lst["processes"][0]["unit"], "state": "serving"}


def test_unit_rules_through_ansible_playbook(netns, unit_cgroup):
    """allow entries with unit: judge the owner's unit (wrong-owner when it is another)."""
    from netns_helpers import run_playbook

    name, unit_dir, dummy = unit_cgroup
    proc, rest = netns.start([PYTHON, HELPER, json.dumps([{"name": "webd", "tcp": [["0.0.0.0", 8089]]},
                                                          {"name": "other", "tcp": [["0.0.0.0", 8090]]}])])
    pid = json.loads(rest)["webd"]
    with open(os.path.join(unit_dir, "cgroup.procs"), "w") as f:
        f.write(str(pid))
    policy = {"policy": "units", "listeners": {"default": "deny", "allow": [
        {"proto": "tcp", "port": 8089, "unit": "na-*.service"},
        {"proto": "tcp", "port": 8090, "unit": "nginx.service"},
    ]}}
    path = os.path.join(netns.tmpdir, "units.yml")
    with open(path, "w") as f:
        json.dump(policy, f)
    out = os.path.join(netns.tmpdir, "result.json")
    playbook = (
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - netaudit.netstat.netstat_audit: {policy: %s, fail_on: never}\n      register: r\n"
        "    - ansible.builtin.copy: {content: \"{{ r | to_json }}\", dest: %s}\n" % (path, out))
    inventory = "%s ansible_connection=local ansible_python_interpreter=%s\n" % (netns.name, netns.interpreter())
    res = run_playbook(netns.tmpdir, playbook, inventory)
    assert res.returncode == 0, res.stdout[-3000:]
    with open(out) as f:
        result = json.load(f)
    assert [(f["rule"], f["subject"], f["expected"]) for f in result["findings"]] == [
        ("wrong-owner", "tcp 0.0.0.0:8090", "unit nginx.service")]
    # the other process's unit is whatever the test runs in (none on a host without systemd)
    assert result["findings"][0]["actual"] != name
    assert result["verdict"] == "drift"
