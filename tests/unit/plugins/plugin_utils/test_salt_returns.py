# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Salt returns of netstat.audit into report entries: every minion in the report, whatever it
returned."""

import json

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.netaudit.netstat.plugins.plugin_utils import _report, _salt_returns

AUDITED = {
    "verdict": "drift", "compliant": False, "fail_on": "error", "counts": {"error": 1, "warning": 0, "info": 0},
    "findings": [{"rule": "unexpected-listener", "severity": "error", "subject": "tcp 0.0.0.0:8080", "message": "m",
                  "expected": None, "actual": "x", "source": "p.yml:3", "waived": None}],
    "policies": ["web"], "facts_summary": {"backend": "netlink", "complete": True},
}


def test_each_kind_of_return():
    returns = {
        "web1": AUDITED,
        "web2": {"ret": dict(AUDITED, verdict="compliant", findings=[], counts={"error": 0, "warning": 0, "info": 0}),
                 "retcode": 0},
        "down": "Minion did not return. [No response]\nThe minions may not have all finished running",
        "gone": "Minion did not return. [Not connected]",
        "nomod": "'netstat.audit' is not available.",
        "bad-policy": {"verdict": "failed", "error": "invalid policy (1 problem):\np.yml:4:3: unknown key alow"},
        "odd": [1, 2],
    }
    model = _salt_returns.build(returns, expected=["web1", "down", "silent"])
    hosts = dict((h["host"], h) for h in model["hosts"])
    assert sorted(hosts) == sorted(list(returns) + ["silent"])
    assert (hosts["web1"]["verdict"], hosts["web2"]["verdict"]) == ("drift", "compliant")
    assert hosts["web1"]["findings"][0]["subject"] == "tcp 0.0.0.0:8080"
    assert hosts["web1"]["facts"]["backend"] == "netlink"
    for name in ("down", "gone", "silent"):
        assert hosts[name]["verdict"] == "unreachable" and "did not return" in hosts[name]["error"]
    assert hosts["nomod"]["verdict"] == "failed" and "not available" in hosts["nomod"]["error"]
    assert hosts["bad-policy"]["verdict"] == "failed" and "p.yml:4:3" in hosts["bad-policy"]["error"]
    assert hosts["odd"]["verdict"] == "failed"
    assert model["verdict"] == "failed"
    _report.render_json(model)
    _report.render_html(model)


def test_parse_output_static_and_one_document_a_minion():
    one = json.dumps({"a": AUDITED, "b": "Minion did not return. [No response]"})
    many = json.dumps({"a": AUDITED}, indent=4) + "\n" + json.dumps({"b": "Minion did not return. [No response]"}, indent=4)
    assert _salt_returns.parse_output(one) == _salt_returns.parse_output(many)
    for text, words in (("", "empty"), ("{", "not Salt's JSON"), ("[1]", "not a mapping"), ('{"a": 1} x', "not Salt's JSON")):
        with pytest.raises(_salt_returns.ReturnsError, match=words):
            _salt_returns.parse_output(text, "returns.json")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=10), JSON | st.fixed_dictionaries(
    {"verdict": st.sampled_from(["compliant", "drift", "incomplete", "failed", 7])},
    optional={"findings": JSON, "counts": JSON})))
def test_any_return_is_reported(returns):
    """Whatever the minions returned, every one is in the report and the report renders."""
    model = _salt_returns.build(returns)
    assert sorted(h["host"] for h in model["hosts"]) == sorted(_report.to_text(m) for m in returns)
    for render in (_report.render_json, _report.render_markdown, _report.render_html, _report.render_junit):
        render(model)
