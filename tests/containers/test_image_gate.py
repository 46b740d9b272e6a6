# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The image gate on real images (built locally with docker import; no registry), through
scripts/audit.sh --gate --image, i.e. ansible-playbook netaudit.netstat.image_gate with the report
callback: compliant, stray listener, late listener, exits at once, never settles; no container is
left behind in any case."""

import json
import os
import subprocess
import tempfile
import time

import pytest
import yaml

import docker_helpers as dh
from netns_helpers import REPO, ansible_env

AUDIT_SH = os.path.join(REPO, "scripts", "audit.sh")
POLICY = {"policy": "gate-image", "listeners": {"default": "deny", "allow": [
    {"proto": "tcp", "port": 8080, "program": ["httpd", "busybox"], "required": True}]}}
WWW = ["-h", "/www"]


@pytest.fixture(scope="module")
def images(docker_daemon):
    made = {
        # no shell, no Python, no ss: /bin/busybox alone, serving on 8080
        "plain": dh.build_image("netaudit-test/gate-plain:1", ["/bin/busybox", "httpd", "-f", "-p", "8080"] + WWW,
                                expose=["8080"], shell=False),
        "stray": dh.build_image("netaudit-test/gate-stray:1", [
            "/bin/sh", "-c", "telnetd -p 2323 -l /bin/sh; exec httpd -f -p 8080 -h /www"], expose=["8080"]),
        "late": dh.build_image("netaudit-test/gate-late:1", [
            "/bin/sh", "-c", "sleep 3; exec httpd -f -p 8080 -h /www"], expose=["8080"]),
        "exits": dh.build_image("netaudit-test/gate-exits:1", [
            "/bin/sh", "-c", "echo starting; echo 'fatal: no configuration' >&2; exit 3"], expose=["8080"]),
        # a new listener every half second: never the same set twice
        "restless": dh.build_image("netaudit-test/gate-restless:1", [
            "/bin/sh", "-c", "p=9000; while true; do httpd -p $p -h /www; p=$((p+1)); sleep 0.5; done"]),
    }
    yield made
    dh.remove_images()


def gate(image, policy=None, extra=None, timeout=30):
    work = tempfile.mkdtemp(prefix="natest-gate-")
    path = os.path.join(work, "policy.yml")
    with open(path, "w") as f:
        yaml.safe_dump(policy or POLICY, f, sort_keys=False)
    reports = os.path.join(work, "reports")
    evars = {"netaudit_policies": [path], "netaudit_settle_interval": 0.5, "netaudit_settle_timeout": timeout}
    evars.update(extra or {})
    started = time.monotonic()
    res = subprocess.run(["bash", AUDIT_SH, "--gate", "--image", image, "-e", json.dumps(evars)],
                         capture_output=True, text=True, env=ansible_env({"NETAUDIT_REPORT_DIR": reports}), cwd=work,
                         timeout=300, check=False)
    took = time.monotonic() - started
    report = None
    if os.path.exists(os.path.join(reports, "report.json")):
        with open(os.path.join(reports, "report.json")) as f:
            report = json.load(f)
    junit = None
    if os.path.exists(os.path.join(reports, "junit.xml")):
        with open(os.path.join(reports, "junit.xml")) as f:
            junit = f.read()
    assert not gate_containers(), "a gate container was left behind"
    return res, report, junit, took


def gate_containers():
    return dh.docker("ps", "-aq", "--filter", "label=netaudit.gate=1", check=False).stdout.split()


def test_compliant_image_without_shell_passes(images):
    res, report, junit, took = gate(images["plain"])
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    host = report["hosts"][0]
    assert host["host"] == "netaudit-test/gate-plain_1" and host["verdict"] == "compliant"
    assert "failures=\"0\"" in junit and "errors=\"0\"" in junit


def test_stray_listener_fails_naming_the_program(images):
    res, report, junit, took = gate(images["stray"])
    assert res.returncode == 1, res.stdout[-4000:]
    host = report["hosts"][0]
    assert host["verdict"] == "drift"
    (finding,) = [f for f in host["findings"] if f["rule"] == "unexpected-listener"]
    assert finding["port"] == 2323 and [p["name"] for p in finding["programs"]] == ["telnetd"]
    assert finding["images"] == ["netaudit-test/gate-stray:1"]
    assert "<failure" in junit and "2323" in junit


def test_late_listener_passes_once_settled(images):
    res, report, junit, took = gate(images["late"])
    assert res.returncode == 0, res.stdout[-4000:]
    assert report["hosts"][0]["verdict"] == "compliant"
    # it waited for the port the image exposes (8080 is required: audited too early, it would be
    # missing-listener), however long the start took
    assert took >= 3


def test_command_that_exits_fails_with_code_and_logs(images):
    res, report, junit, took = gate(images["exits"])
    assert res.returncode == 4, res.stdout[-4000:]
    host = report["hosts"][0]
    assert host["verdict"] == "failed"
    assert "exit code 3" in host["error"] and "fatal: no configuration" in host["error"], host["error"]
    assert "exit code 3" in junit


def test_never_settles_fails_on_the_timeout(images):
    res, report, junit, took = gate(images["restless"], timeout=6)
    assert res.returncode == 4, res.stdout[-4000:]
    host = report["hosts"][0]
    assert host["verdict"] == "failed"
    assert "did not settle within 6 s" in host["error"] and "changed" in host["error"], host["error"]
    assert took < 60


def test_published_ports_are_checked(images):
    """-p publishes the container's port on the host: the policy sees the published port too."""
    policy = {"policy": "gate-published", "listeners": {"default": "deny", "allow": [
        {"proto": "tcp", "port": 8080, "program": "busybox"}]}}
    res, report, junit, took = gate(images["plain"], policy, {"netaudit_publish": ["127.0.0.1:18089:8080"]})
    assert res.returncode == 1, res.stdout[-4000:]
    findings = report["hosts"][0]["findings"]
    assert [(f["rule"], f["port"]) for f in findings] == [("unexpected-listener", 18089)]
    assert findings[0]["containers"] and findings[0]["images"] == ["netaudit-test/gate-plain:1"]
    policy["listeners"]["allow"].append({"proto": "tcp", "port": 18089, "bind": "loopback"})
    res, report, junit, took = gate(images["plain"], policy, {"netaudit_publish": ["127.0.0.1:18089:8080"]})
    assert res.returncode == 0, res.stdout[-4000:]


def test_learn_mode_writes_a_policy_that_gates_the_image(images, tmp_path):
    learned = str(tmp_path / "learned.yml")
    res, report, junit, took = gate(images["plain"], extra={"netaudit_learn": learned})
    assert os.path.exists(learned), res.stdout[-4000:]
    with open(learned) as f:
        text = f.read()
    assert "port: 8080" in text and "httpd" in text
    res, report, junit, took = gate(images["plain"], policy=yaml.safe_load(text))
    assert res.returncode == 0, res.stdout[-4000:]
    res, report, junit, took = gate(images["stray"], policy=yaml.safe_load(text))
    assert res.returncode == 1


def test_settle_module_on_the_host(images):
    """With become (here su from root to root), netstat_settle runs as a module on the host, not in
    the controller's process: the same result."""
    from netns_helpers import PYTHON, run_playbook

    work = tempfile.mkdtemp(prefix="natest-settle-")
    name = dh.unique("settle")
    out = os.path.join(work, "r.json")
    playbook = (
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - netaudit.netstat.netstat_settle:\n"
        "        container: %s\n        run_argv: %s\n        interval: 0.2\n        gather: {connections: compact}\n"
        "        remove: true\n      become: true\n      become_method: ansible.builtin.su\n      register: r\n"
        "    - ansible.builtin.copy: {content: \"{{ r | to_json }}\", dest: %s}\n"
        % (name, json.dumps(["docker", "run", "--detach", "--pull=never", "--name", name, images["plain"]]), out))
    res = run_playbook(work, playbook, "h ansible_connection=local ansible_python_interpreter=%s\n" % PYTHON)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    with open(out) as f:
        r = json.load(f)
    assert r["settled"] and r["removed"] and r["listeners"] == ["tcp :::8080"]
    assert r["ran_on"] == "host"
    assert r["facts"]["namespaces"][0]["containers"][0]["name"] == name
    assert not dh.docker("ps", "-aq", "--filter", "name=%s" % name).stdout.strip()
