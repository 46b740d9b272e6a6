# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report.sarif: valid SARIF 2.1.0 (the published schema, shipped in tests/unit/fixtures/sarif),
one result per finding, located on the policy file and line, waived findings suppressed, hosts
that could not be audited as notifications, hostile text kept out of the structure."""

import json
import os
import sys

import jsonschema
import pytest

_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
try:
    import ansible_collections.netaudit.netstat  # noqa: F401  # pylint: disable=unused-import
except ImportError:
    sys.path.insert(0, os.path.join(_REPO, ".venv", "collections"))

from ansible_collections.netaudit.netstat.plugins.plugin_utils import _report  # noqa: E402

SCHEMA = os.path.join(_REPO, "tests", "unit", "fixtures", "sarif", "sarif-2.1.0-rtm.5.json")


def finding(rule, subject, source, severity="error", waived=None, **fields):
    out = {"rule": rule, "severity": severity, "subject": subject, "expected": "x", "actual": "y",
           "message": "%s is wrong" % subject, "source": source, "waived": waived}
    out.update(fields)
    return out


@pytest.fixture
def model(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "policies").mkdir()
    hosts = {
        "web1": {"status": "ok", "findings": [
            finding("unexpected-listener", "tcp 0.0.0.0:8080", str(tmp_path / "policies" / "web.yml") + ":3",
                    programs=[{"name": "python3\x1b[2J"}], port=8080, containers=["shop"]),
            finding("state-threshold", "tcp TIME_WAIT", str(tmp_path / "policies" / "web.yml") + ":9:5", severity="warning"),
            finding("wrong-bind", "tcp 0.0.0.0:5432", "/etc/netaudit/db.yml:12",
                    waived={"reason": "DB-7 </script>", "expires": "2999-01-01", "source": "x"}),
        ]},
        "web2": {"status": "ok", "findings": [
            finding("unexpected-listener", "tcp 0.0.0.0:8080", str(tmp_path / "policies" / "web.yml") + ":3"),
            finding("incomplete-facts", "collector", None, severity="info"),
        ], "policies": ["policies/web.yml"]},
        "gone": {"status": "unreachable", "error": "ssh: connection refused"},
    }
    return _report.build_report(hosts, playbook="audit.yml")


def test_sarif_is_valid_and_complete(model, tmp_path):
    text = _report.render_sarif(model)
    log = json.loads(text)
    with open(SCHEMA) as f:
        jsonschema.Draft4Validator(json.load(f)).validate(log)
    assert log["version"] == "2.1.0"
    run = log["runs"][0]
    results = run["results"]
    assert len(results) == 5  # one per finding, waived included (suppressed)
    rules = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert sorted(rules) == ["incomplete-facts", "state-threshold", "unexpected-listener", "wrong-bind"]
    for r in results:
        assert rules[r["ruleIndex"]] == r["ruleId"]
    by = {(r["properties"]["host"], r["ruleId"]): r for r in results}
    loc = by[("web1", "unexpected-listener")]["locations"][0]["physicalLocation"]
    assert loc == {"artifactLocation": {"uri": "policies/web.yml", "uriBaseId": "SRCROOT"}, "region": {"startLine": 3}}
    assert by[("web1", "state-threshold")]["locations"][0]["physicalLocation"]["region"] == {"startLine": 9, "startColumn": 5}
    assert by[("web1", "state-threshold")]["level"] == "warning" and by[("web2", "incomplete-facts")]["level"] == "note"
    outside = by[("web1", "wrong-bind")]
    assert outside["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "file:///etc/netaudit/db.yml"}
    assert outside["suppressions"] == [{"kind": "external", "status": "accepted",
                                        "justification": "DB-7 </script> (until 2999-01-01)"}]
    # a finding with no source sits on the host's first policy file
    assert by[("web2", "incomplete-facts")]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "policies/web.yml"
    # the same finding on two hosts: two alerts, each stable from run to run
    fp = {r["properties"]["host"]: r["partialFingerprints"]["netauditFinding/v1"]
          for r in results if r["ruleId"] == "unexpected-listener"}
    assert fp["web1"] != fp["web2"]
    again = json.loads(_report.render_sarif(model))["runs"][0]["results"]
    assert again[0]["partialFingerprints"] == results[0]["partialFingerprints"]
    # the unreachable host: a notification, never a silent drop
    (note,) = run["invocations"][0]["toolExecutionNotifications"]
    assert note["descriptor"]["id"] == "host-unreachable" and "gone" in note["message"]["text"]
    assert run["invocations"][0]["executionSuccessful"] is False
    # hostile text stays data: the escape sequence is in a JSON string, escaped
    assert "\x1b" not in text and "python3\\u001b[2J" in text
    assert by[("web1", "unexpected-listener")]["properties"]["containers"] == ["shop"]


def test_sarif_is_written_with_the_other_reports(model, tmp_path):
    paths = _report.write_reports(model, str(tmp_path / "reports"))
    assert os.path.basename(paths["sarif"]) == "report.sarif"
    with open(paths["sarif"]) as f:
        assert json.load(f)["runs"][0]["results"]
