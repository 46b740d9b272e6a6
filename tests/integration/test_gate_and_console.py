# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README's main job, scripts/audit.sh, run inside a network namespace the test makes (so
that "this machine" is that namespace): its exit codes by verdict, what it prints, and the
reports it leaves."""

import json
import os
import subprocess

import yaml
from netns_helpers import PYTHON, REPO, ansible_env

HELPER = os.path.join(REPO, "tests", "integration", "audit_sockets.py")
AUDIT_SH = os.path.join(REPO, "scripts", "audit.sh")


def start(ns, services):
    dummy, rest = ns.start([PYTHON, HELPER, json.dumps(services)])
    return json.loads(rest)


def gate(ns, policy, prefix=(), gate_flag=True):
    path = os.path.join(ns.tmpdir, "policy.yml")
    with open(path, "w") as f:
        f.write(policy if isinstance(policy, str) else yaml.safe_dump(policy))
    reports = os.path.join(ns.tmpdir, "reports")
    env = ansible_env({"NETAUDIT_REPORT_DIR": reports})
    argv = ns.cmd(list(prefix) + ["bash", AUDIT_SH] + (["--gate"] if gate_flag else [])
                  + ["-e", json.dumps({"netaudit_policies": [path]})])
    res = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ns.tmpdir, timeout=300, check=False)
    report = None
    if os.path.exists(os.path.join(reports, "report.json")):
        with open(os.path.join(reports, "report.json")) as f:
            report = json.load(f)
    return res, report


CLOSED = {"policy": "gate", "listeners": {"default": "deny", "allow": [{"port": 22, "program": "sshd"}]}}


def test_gate_exit_codes_and_console(netns):
    start(netns, [{"name": "sshd", "tcp": [["0.0.0.0", 22]]}])
    res, report = gate(netns, CLOSED)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert report["verdict"] == "compliant"
    # one audit task a host: a compliant host shows `ok`, no result, no failure
    assert "ok: [localhost]" in res.stdout and "FAILED!" not in res.stdout
    assert "Verdict: compliant." in res.stdout
    assert "pip" not in res.stdout.lower().replace("pipelining", "")  # setup keeps pip's noise out of sight

    start(netns, [{"name": "stray\x1b[2Jx", "tcp": [["0.0.0.0", 8080]]}])
    res, report = gate(netns, CLOSED)
    assert res.returncode == 1, res.stdout[-3000:]
    assert report["verdict"] == "drift" and report["hosts"][0]["verdict"] == "drift"
    # the host fails its audit task, whose result is printed expanded: the verdict in a line, a
    # line per finding, no raw control character, no one-line JSON blob
    assert "fatal: [localhost]: FAILED! => {\n" in res.stdout
    assert '"DRIFT against gate: 1 drift finding(s) at or above error"' in res.stdout
    assert "error unexpected-listener tcp 0.0.0.0:8080" in res.stdout
    assert "\x1b" not in res.stdout and "stray\\\\x1b[2Jx" in res.stdout
    assert max(len(line) for line in res.stdout.splitlines()) < 700
    assert "Verdict: drift." in res.stdout
    # report mode exits 0 once the reports are written
    res, report = gate(netns, CLOSED, gate_flag=False)
    assert res.returncode == 0 and report["verdict"] == "drift"


def test_gate_incomplete_and_could_not_audit(netns):
    start(netns, [{"name": "sshd", "tcp": [["0.0.0.0", 22]]}])
    # root with a reduced bounding set cannot read the full-capability sshd's descriptors
    reduced = ["setpriv", "--bounding-set", "-sys_ptrace,-net_admin", "--inh-caps", "-all", "--"]
    res, report = gate(netns, CLOSED, prefix=reduced)
    assert res.returncode == 3, res.stdout[-3000:] + res.stderr[-2000:]
    host = report["hosts"][0]
    assert host["verdict"] == "incomplete"
    assert [(f["rule"], f["subject"], f["cause"]) for f in host["findings"]] == [
        ("incomplete-facts", "tcp 0.0.0.0:22", "capabilities")
    ]
    assert '"INCOMPLETE against gate' in res.stdout
    # a policy error is never a pass, in either mode
    bad = "policy: broken\nlisteners:\n  defualt: deny\n"
    for flag in (True, False):
        res, report = gate(netns, bad, gate_flag=flag)
        assert res.returncode == 4, res.stdout[-3000:]
        assert report["hosts"][0]["verdict"] == "failed"
        assert "defualt" in report["hosts"][0]["error"] and "did you mean" in report["hosts"][0]["error"]
