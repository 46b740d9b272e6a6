# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""netstat_drift filter and netstat_compliant test: thin wrappers over the policy engine."""

import os

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.netaudit.netstat.plugins.filter.netstat_drift import FilterModule, netstat_drift
from ansible_collections.netaudit.netstat.plugins.module_utils import _policy as P
from ansible_collections.netaudit.netstat.plugins.test import netstat_compliant as compliant_plugin

netstat_compliant = compliant_plugin.netstat_compliant

FIXTURES = os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "fixtures", "policies")
)

FACTS = {
    "collector": {"complete": True, "reasons": []},
    "listeners": [
        {
            "proto": "tcp",
            "family": "ipv4",
            "address": "0.0.0.0",
            "port": 22,
            "user": "root",
            "uid": 0,
            "processes": [{"pid": 1, "name": "sshd", "user": "root"}],
        },
        {
            "proto": "tcp",
            "family": "ipv4",
            "address": "0.0.0.0",
            "port": 8080,
            "user": "app",
            "uid": 1000,
            "processes": [{"pid": 2, "name": "python3", "user": "app"}],
        },
    ],
    "unix": [],
}
POLICY = {"listeners": {"default": "deny", "allow": [{"port": 22, "program": "sshd"}]}}


def test_plugins_are_registered():
    registered = FilterModule().filters()["netstat_drift"]
    assert registered.__name__ == "netstat_drift"
    assert getattr(registered, "jinja_pass_arg", None) is not None  # gets the play's playbook_dir
    registered = compliant_plugin.TestModule().tests()["netstat_compliant"]
    assert registered.__name__ == "netstat_compliant" and getattr(registered, "jinja_pass_arg", None) is not None


def test_filter_with_inline_policy_matches_engine():
    findings = netstat_drift(FACTS, POLICY, today="2026-01-01")
    assert [(f["rule"], f["subject"]) for f in findings] == [("unexpected-listener", "tcp 0.0.0.0:8080")]
    engine = P.evaluate(FACTS, POLICY, today="2026-01-01")["findings"]
    assert [f["message"] for f in findings] == [f["message"] for f in engine]
    assert findings[0]["source"] == "inline policy #1 listeners.default"


def test_filter_with_path_and_full_result():
    full = netstat_drift(FACTS, os.path.join(FIXTURES, "good", "child.yml"), result="full")
    assert full["compliant"] is False
    assert full["policy_files"][-1].endswith("child.yml")
    assert {f["rule"] for f in full["findings"]} == {"unexpected-listener"}


def test_filter_accepts_whole_ansible_facts():
    assert netstat_drift({"netstat": FACTS}, POLICY) == netstat_drift(FACTS, POLICY)


def test_filter_errors_are_clean():
    with pytest.raises(AnsibleFilterError) as info:
        netstat_drift(FACTS, os.path.join(FIXTURES, "bad", "unknown_entry_key.yml"))
    assert "unknown_entry_key.yml:6:7" in str(info.value) and "did you mean 'proto'" in str(info.value)
    with pytest.raises(AnsibleFilterError, match="must be ansible_facts.netstat"):
        netstat_drift(["not", "facts"], POLICY)
    with pytest.raises(AnsibleFilterError, match="result must be"):
        netstat_drift(FACTS, POLICY, result="bogus")


def test_compliant_test():
    assert netstat_compliant(FACTS, POLICY) is False
    allow_all = {"listeners": {"default": "allow"}}
    assert netstat_compliant(FACTS, allow_all) is True
    warn = {"listeners": {"default": "deny", "allow": [{"port": 22}]}, "severities": {"unexpected-listener": "warning"}}
    assert netstat_compliant(FACTS, warn) is True
    assert netstat_compliant(FACTS, warn, fail_on="warning") is False
    waived = dict(
        POLICY, waivers=[{"rule": "unexpected-listener", "match": {"port": 8080}, "reason": "T-1", "expires": "2030-01-01"}]
    )
    assert netstat_compliant(FACTS, waived, today="2029-12-31") is True
    assert netstat_compliant(FACTS, waived, today="2030-01-02") is False
    incomplete = dict(FACTS, collector={"complete": False, "reasons": ["x"]})
    assert netstat_compliant(incomplete, allow_all) is False
    assert netstat_compliant(incomplete, allow_all, allow_incomplete=True) is True
    with pytest.raises(AnsibleFilterError):
        netstat_compliant(FACTS, POLICY, fail_on="never")
