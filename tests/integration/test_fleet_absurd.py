# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A fleet run in which one host's facts are absurd (Infinity, text counts, a process that is a
number): that host is reported as failed with the field named, every other host as usual, and
all five reports are written."""
import json
import os

import yaml
from netns_helpers import run_playbook

GOOD = {"collector": {"backend": "netlink", "complete": True, "owners": True},
        "listeners": [{"proto": "tcp", "family": "ipv4", "address": "127.0.0.1", "port": 22, "uid": 0, "user": "root",
                       "processes": [{"pid": 1, "name": "sshd", "uid": 0, "user": "root"}]}],
        "counts": {"tcp": {"LISTEN": 1}}}
ABSURD = {
    "inf": '{"listeners": [], "counts": {"tcp": {"TIME_WAIT": Infinity}}}',
    "text": '{"listeners": [], "counts": {"tcp": {"LISTEN": "many"}}}',
    "proc": '{"listeners": [{"proto": "tcp", "port": 80, "processes": [7]}]}',
    "seven": '{"listeners": 7}',
}


def test_one_absurd_host_does_not_erase_the_fleet_report(tmp_path):
    hosts = ["good"] + sorted(ABSURD)
    inventory = "\n".join("%s ansible_connection=local" % h for h in hosts) + "\n"
    play = [{
        "hosts": "all", "gather_facts": False,
        "vars": {"good_facts": GOOD, "absurd": ABSURD},
        "tasks": [{
            "netaudit.netstat.netstat_audit": {
                "policy": {"policy": "p", "listeners": {"default": "deny", "allow": [{"port": 22, "program": "sshd"}]}},
                "facts": "{{ good_facts if inventory_hostname == 'good' else (absurd[inventory_hostname] | from_json) }}",
            },
        }],
    }]
    reports = tmp_path / "reports"
    res = run_playbook(str(tmp_path), yaml.safe_dump(play), inventory, extra_env={
        "ANSIBLE_CALLBACKS_ENABLED": "netaudit.netstat.netstat_report", "NETAUDIT_REPORT_DIR": str(reports)})
    assert res.returncode != 0  # the absurd hosts fail
    assert sorted(n for n in os.listdir(reports) if not n.startswith(".") and n != "latest") == [
        "junit.xml", "report.html", "report.json", "report.md", "report.sarif"], res.stdout[-3000:]
    report = json.loads((reports / "report.json").read_text())
    by = {h["host"]: h for h in report["hosts"]}
    assert set(by) == set(hosts)
    assert by["good"]["verdict"] == "compliant"
    for name, field in (("inf", "counts.tcp.TIME_WAIT"), ("text", "counts.tcp.LISTEN"), ("proc", "listeners[0].processes[0]"),
                        ("seven", "listeners")):
        assert by[name]["verdict"] == "failed", by[name]
        assert field in by[name]["error"], (name, by[name]["error"])
    for fname in ("junit.xml", "report.md", "report.html"):
        text = (reports / fname).read_text()
        assert all(h in text for h in hosts), fname
