# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Policy files that are valid YAML or plain mistakes, and facts no gatherer writes: each is a
typed error naming the file and line (or the field), never a raw exception."""

import json

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _policy_loader as L

CASES = {
    "form feed": ("policy: a\x0c\n", 1, "control character U+000C"),
    "colour codes in a comment": ("# \x1b[31mred\x1b[0m\npolicy: a\n", 1, "control character U+001B"),
    "500 levels of flow nesting": ("policy: a\nx: " + "[" * 500 + "]" * 500 + "\n", 2, "nests deeper than"),
    "recursive alias": ("a: &a [*a]\n", 1, "nests deeper than"),
    "integer of 5000 digits": ("policy: a\nstates: {tcp: {TIME_WAIT: {max: " + "9" * 5000 + "}}}\n", 2, "integer of 5000 digits"),
    "NUL in extends": ('policy: a\nextends: ["a\\0b"]\n', 2, "NUL byte"),
    "policy is a number": ("policy: 443\n", 1, "expected string"),
    "!!int with an empty value": ("policy: a\nlisteners: {allow: [{port: !!int ''}]}\n", 2, "cannot be read as int"),
    "!!float on text": ("policy: a\nlisteners: {allow: [{port: !!float 'x'}]}\n", 2, "cannot be read as float"),
    "a tagged key": ("policy: a\n!!int reason: x\n", 2, "cannot be read as int"),
    "NaN limit": ("policy: a\nqueues: {listen_fill: {max: .nan}}\n", 2, "not a finite number"),
    "lone surrogate": ('policy: "\\ud800"\n', 1, "lone surrogate"),
    "undefined alias": ("policy: *nope\n", 1, "undefined alias"),
    "two documents": ("policy: a\n---\npolicy: b\n", 2, "another document"),
    "merge of a number": ("policy: a\nlisteners:\n  allow:\n    - <<: 5\n      port: 1\n", 4, "for merging"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_policy_is_a_located_error(tmp_path, name):
    text, line, words = CASES[name]
    path = tmp_path / "p.yml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    with pytest.raises(L.PolicyError) as err:
        L.load_policies([str(path)])
    issues = [i for i in err.value.issues if words in i.message]
    assert issues, str(err.value)
    assert issues[0].file.endswith("p.yml") and issues[0].line == line, str(err.value)


@pytest.mark.parametrize("value", [443, True, 4.5, b"x", [443], [None]])
def test_policy_option_of_the_wrong_type(value):
    with pytest.raises(L.PolicyError) as err:
        L.load_policies(value)
    assert "expected a policy file path" in str(err.value)


def test_merge_key_with_an_override(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("policy: a\nlisteners:\n  allow:\n    - &ssh {proto: tcp, port: 22, program: sshd}\n"
                    "    - <<: *ssh\n      port: 2222\n")
    allow = L.load_policies([str(path)]).layers[0]["listeners"]["allow"]
    assert [(e["proto"], e["port"], e["program"]) for e in allow] == [("tcp", 22, "sshd"), ("tcp", 2222, "sshd")]


def test_inline_nan_is_refused():
    with pytest.raises(L.PolicyError, match="not a finite number"):
        L.load_policies([{"policy": "x", "queues": {"listen_fill": {"max": float("nan")}}}])


@pytest.mark.parametrize(
    "facts,field",
    [
        ({"listeners": 7}, "listeners"),
        ({"listeners": [7]}, "listeners[0]"),
        ({"listeners": [{"port": 70000}]}, "listeners[0].port"),
        ({"listeners": [{"port": "80"}]}, "listeners[0].port"),
        ({"listeners": [{"port": 80, "processes": [7]}]}, "listeners[0].processes[0]"),
        ({"listeners": [{"port": 80, "processes": [{"pid": "x"}]}]}, "listeners[0].processes[0].pid"),
        ({"listeners": [], "counts": {"tcp": {"LISTEN": "many"}}}, "counts.tcp.LISTEN"),
        ({"listeners": [], "counts": {"tcp": {"LISTEN": float("inf")}}}, "counts.tcp.LISTEN"),
        ({"listeners": [], "counts": {"tcp": 5}}, "counts.tcp"),
        ({"listeners": [], "unix": [{"path": 5}]}, "unix[0].path"),
        ({"listeners": [], "connections": [{"remote_port": -1}]}, "connections[0].remote_port"),
        ({"listeners": [], "connections": 5}, "connections"),
        ({"listeners": [], "collector": []}, "collector"),
    ],
)
def test_malformed_facts_name_the_field(facts, field):
    with pytest.raises(_policy.PolicyEvalError) as err:
        _policy.evaluate(facts, [{"listeners": {"default": "deny"}}])
    assert ("facts: %s must be" % field) in str(err.value)


def test_loader_error_is_json_serialisable(tmp_path):
    path = tmp_path / "p.yml"
    path.write_text("policy: a\x0c\n")
    with pytest.raises(L.PolicyError) as err:
        L.load_policies([str(path)])
    json.dumps([i.as_dict() for i in err.value.issues])
