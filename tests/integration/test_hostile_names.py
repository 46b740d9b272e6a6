# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A local user must not be able to stop or fool the audit with names: a listener whose
executable name is not UTF-8, and a world-writable UNIX socket whose name is not UTF-8, are
gathered and audited normally on every backend, through ansible-playbook, and agree with ss."""

import json
import os
import shutil
import subprocess

import pytest
import yaml
from netns_helpers import PYTHON, gather_via_ansible, run_playbook, ss_inet

BACKENDS = ["netlink", "procfs", "psutil"]

LISTENER = r"""
import os, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 7777)); s.listen(8)
u = socket.socket(socket.AF_UNIX)
path = os.fsencode(sys.argv[1]) + b"/ww-\xfe\xff.sock"
u.bind(path); os.chmod(path, 0o777); u.listen(1)
print("READY", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def hostile(netns):
    bindir = os.path.join(netns.tmpdir, "bin")
    os.makedirs(bindir)
    exe = os.path.join(os.fsencode(bindir), b"py\xff")
    shutil.copy(os.path.realpath(PYTHON), exe)
    os.chmod(exe, 0o755)
    script = os.path.join(netns.tmpdir, "listener.py")
    with open(script, "w") as f:
        f.write(LISTENER)
    # the venv's site-packages are not needed: the listener uses the standard library only
    proc = subprocess.Popen([b"ip", b"netns", b"exec", netns.name.encode(), exe, script.encode(), netns.tmpdir.encode()],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    netns.procs.append(proc)
    line = proc.stdout.readline()
    assert line.startswith(b"READY"), line
    proc.stdin = open(os.devnull, "w") if proc.stdin is None else proc.stdin
    return netns, proc.pid


def test_non_utf8_executable_and_socket_name_on_every_backend(hostile):
    ns, pid = hostile
    ss_pids = [s["pids"] for s in ss_inet(ns) if s["local_port"] == 7777]
    assert ss_pids and ss_pids[0], ss_pids
    results = gather_via_ansible(ns, [dict(backend=b, unix="all") for b in BACKENDS])
    for backend, facts in zip(BACKENDS, results):
        assert facts["collector"]["backend"] == backend
        lst = [x for x in facts["listeners"] if x["port"] == 7777]
        assert len(lst) == 1, (backend, facts["listeners"])
        procs = lst[0]["processes"]
        assert [p["pid"] for p in procs] == ss_pids[0], backend
        p = procs[0]
        assert p["exe"].endswith("/py\\xff"), (backend, p)
        assert bytes.fromhex(p["exe_hex"]).endswith(b"/py\xff"), (backend, p)  # the real bytes, reversibly
        ww = [u for u in facts["unix"] if u.get("path") and "ww-" in u["path"]]
        assert ww, (backend, [u["path"] for u in facts["unix"]])
        if backend != "psutil":  # psutil lists UNIX sockets without their file mode
            assert ww[0]["mode"] == "0777", (backend, ww[0])
            assert bytes.fromhex(ww[0]["path_hex"]).endswith(b"/ww-\xfe\xff.sock")


@pytest.mark.parametrize("backend", BACKENDS)
def test_hostile_listener_is_audited_normally(hostile, backend):
    ns, pid = hostile
    policy = {
        "policy": "hostile",
        "listeners": {"default": "deny"},
        "unix": {"default": "allow", "world_writable": {"severity": "error"}},
    }
    path = os.path.join(ns.tmpdir, "policy.yml")
    with open(path, "w") as f:
        yaml.safe_dump(policy, f)
    play = [{
        "hosts": "all", "gather_facts": False,
        "tasks": [
            {
                "netaudit.netstat.netstat_audit": {"policy": path, "fail_on": "never",
                                                   "gather": {"backend": backend, "unix": "all"}},
                "register": "audit",
            },
            {"ansible.builtin.copy": {"content": "{{ audit | to_json }}", "dest": os.path.join(ns.tmpdir, "audit.json")}},
        ],
    }]
    inventory = "%s ansible_connection=local ansible_python_interpreter=%s\n" % (ns.name, ns.interpreter())
    res = run_playbook(ns.tmpdir, yaml.safe_dump(play), inventory)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-1000:]
    with open(os.path.join(ns.tmpdir, "audit.json")) as f:
        result = json.load(f)
    rules = sorted((f["rule"], f["subject"]) for f in result["findings"])
    assert ("unexpected-listener", "tcp 127.0.0.1:7777") in rules
    stray = [f for f in result["findings"] if f["rule"] == "unexpected-listener"][0]
    assert stray["programs"][0]["pids"] == [pid] or stray["programs"][0]["pids"]
    if backend != "psutil":
        ww = [s for r, s in rules if r == "world-writable-unix-socket"]
        assert any("ww-\\xfe\\xff.sock" in s for s in ww), rules
    assert result["verdict"] == "drift"
