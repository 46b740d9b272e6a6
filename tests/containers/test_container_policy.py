# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Policies with container:, image: and netns: on real containers, through ansible-playbook
(scripts/audit.sh --gate, namespaces: all, the report callback).

The host's own namespace is left to one allow entry (netns: host): what this machine runs is not
the test's business; the containers are.
"""

import json
import os
import subprocess
import tempfile

import yaml

from docker_helpers import PY_MOUNTS, unique
from netns_helpers import REPO, ansible_env

AUDIT_SH = os.path.join(REPO, "scripts", "audit.sh")


def audit(policy, namespaces="all"):
    work = tempfile.mkdtemp(prefix="natest-audit-")
    path = os.path.join(work, "policy.yml")
    with open(path, "w") as f:
        yaml.safe_dump(policy, f, sort_keys=False)
    reports = os.path.join(work, "reports")
    res = subprocess.run(
        ["bash", AUDIT_SH, "--gate", "-e", json.dumps({"netaudit_policies": [path], "netaudit_namespaces": namespaces})],
        capture_output=True, text=True, env=ansible_env({"NETAUDIT_REPORT_DIR": reports}), cwd=work, timeout=300,
        check=False)
    with open(os.path.join(reports, "report.json")) as f:
        report = json.load(f)
    return res, report["hosts"][0], work


def test_container_image_and_netns_rules(containers):
    dh = containers
    web, stray, other = unique("web"), unique("stray"), unique("other")
    ids = {
        web: dh.run(web),
        stray: dh.run(stray, *PY_MOUNTS, cmd=["/usr/bin/python3", "/t/listen.py", "tcp4:0.0.0.0:9999"],
                      wait_ready="READY"),
        other: dh.run(other, cmd=["/bin/httpd", "-f", "-p", "8084", "-h", "/www"]),
    }
    dh.wait_listening(ids[web], 8080)
    dh.wait_listening(ids[other], 8084)
    policy = {
        "policy": "docker-host",
        "listeners": {
            "default": "deny",
            "allow": [
                # the host's own namespace is this machine's business, not this test's
                {"netns": "host", "allow_unresolved": True},
                {"proto": "tcp", "port": 8080, "container": "natest-web-*", "image": "netaudit-test/busybox:*"},
                {"proto": "tcp", "port": 8084, "netns": other, "image": "nginx:*"},
            ],
        },
    }
    res, host, work = audit(policy)
    assert res.returncode == 1, res.stdout[-4000:] + res.stderr[-2000:]
    assert host["verdict"] == "drift"
    findings = [f for f in host["findings"] if f["waived"] is None]
    by_rule = {}
    for f in findings:
        by_rule.setdefault(f["rule"], []).append(f)
    # the stray listener inside its container: named with the program, the container and its image
    (unexpected,) = by_rule["unexpected-listener"]
    assert unexpected["subject"] == "tcp 0.0.0.0:9999 (%s)" % stray
    assert unexpected["containers"] == [stray] and unexpected["container_ids"] == [ids[stray]]
    assert unexpected["images"] == [dh.IMAGE] and unexpected["netns"] == stray
    assert [p["name"] for p in unexpected["programs"]] == ["python3"]
    # the other container's image is not the one its rule names
    (wrong,) = by_rule["wrong-owner"]
    assert wrong["subject"] == "tcp [::]:8084 (%s)" % other, wrong
    assert wrong["expected"] == "image nginx:*" and wrong["actual"] == dh.IMAGE
    # web complies: nothing about it
    assert not [f for f in findings if web in f["subject"]]
    assert set(by_rule) == {"unexpected-listener", "wrong-owner"}, by_rule
    # the reports name the container
    with open(os.path.join(work, "reports", "report.md")) as f:
        md = f.read()
    assert "| owner |" in md  # the owner column, and the drift groups
    assert "python3 \\[container %s (image %s)\\]" % (stray, dh.IMAGE) in md
    with open(os.path.join(work, "reports", "report.html")) as f:
        assert "python3 [container %s (image %s)]" % (stray, dh.IMAGE) in f.read()

    # waived by container name, the drift is gone; the image rule fixed, the host complies
    policy["listeners"]["allow"][2]["image"] = "netaudit-test/*"
    policy["waivers"] = [{"rule": "unexpected-listener", "match": {"container": "natest-stray-*", "port": 9999},
                          "reason": "TICKET-7", "expires": "2999-01-01"}]
    res, host, work = audit(policy)
    assert res.returncode == 0, res.stdout[-4000:]
    assert host["verdict"] == "compliant"
    assert [f["rule"] for f in host["findings"] if f["waived"]] == ["unexpected-listener"]


def test_default_namespace_does_not_see_containers(containers):
    """namespaces: current (the default) judges the host's namespace only, as before."""
    dh = containers
    stray = unique("stray")
    cid = dh.run(stray)
    dh.wait_listening(cid, 8080)
    policy = {"policy": "closed", "listeners": {"default": "deny", "allow": [{"netns": "host", "allow_unresolved": True}]}}
    res, host, dummy = audit(policy, namespaces="current")
    assert res.returncode == 0, res.stdout[-3000:]
    assert host["verdict"] == "compliant"
    res, host, dummy = audit(policy, namespaces="all")
    assert res.returncode == 1
    assert [f["subject"] for f in host["findings"]] == ["tcp [::]:8080 (%s)" % stray]
