# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Policy loading: every malformed policy ends in a typed error naming file, line and key."""

import glob
import json
import os
import time

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy as P
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _policy_loader as L

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, os.pardir, os.pardir, "fixtures", "policies")
BAD = os.path.normpath(os.path.join(FIXTURES, "bad"))
GOOD = os.path.normpath(os.path.join(FIXTURES, "good"))
REPO = os.path.normpath(os.path.join(HERE, os.pardir, os.pardir, os.pardir, os.pardir))

# fixture -> (exception class, file the error names, line, column or None, text in the message)
CASES = {
    "yaml_bad_indent.yml": (L.PolicySyntaxError, None, 4, 9, "invalid YAML: mapping values are not allowed here"),
    "yaml_unclosed_flow.yml": (L.PolicySyntaxError, None, 4, 33, "expected ',' or ']'"),
    "yaml_tab_indent.yml": (L.PolicySyntaxError, None, 3, 1, "'\\t' that cannot start any token"),
    "empty.yml": (L.PolicySyntaxError, None, 1, 1, "the policy file is empty"),
    "not_a_mapping.yml": (L.PolicyValidationError, None, 1, 1, "a policy must be a mapping"),
    "unknown_top_key.yml": (L.PolicyValidationError, None, 2, 1, "listners: unknown key 'listners' (did you mean 'listeners'?)"),
    "unknown_entry_key.yml": (
        L.PolicyValidationError,
        None,
        6,
        7,
        "listeners.allow[0].prot: unknown key 'prot' (did you mean 'proto'?)",
    ),
    "bad_enum_default.yml": (
        L.PolicyValidationError,
        None,
        3,
        12,
        "listeners.default: 'deyn' is not one of allow, deny (did you mean 'deny'?)",
    ),
    "wrong_type_required.yml": (
        L.PolicyValidationError,
        None,
        5,
        17,
        "listeners.allow[0].required: expected boolean, got a string 'yes'",
    ),
    "wrong_type_allow_not_list.yml": (L.PolicyValidationError, None, 4, 5, "listeners.allow: expected list, got a mapping"),
    "port_out_of_range.yml": (
        L.PolicyValidationError,
        None,
        4,
        26,
        "listeners.allow[0].port: 70000 is out of range (must be <= 65535)",
    ),
    "port_zero.yml": (L.PolicyValidationError, None, 5, 18, "listeners.deny[0].port[1]: 0 is out of range (must be >= 1)"),
    "port_range_backwards.yml": (L.PolicyValidationError, None, 4, 13, "port range '9000-8000' runs backwards"),
    "port_unknown_service.yml": (L.PolicyValidationError, None, 4, 13, "known service name (did you mean 'https'?)"),
    "bad_cidr_bind.yml": (L.PolicyValidationError, None, 5, 13, "bind '10.0.0.0/33' is not a valid CIDR"),
    "bad_address_bind.yml": (L.PolicyValidationError, None, 5, 13, "bind '300.1.1.1' is not an address, a CIDR"),
    "bad_egress_cidr.yml": (
        L.PolicyValidationError,
        None,
        5,
        13,
        "egress.allow[0].cidr: '192.168.0.0/16x' is not an address or CIDR",
    ),
    "bad_date.yml": (
        L.PolicyValidationError,
        None,
        6,
        14,
        "waivers[0].expires: '2026-02-30' is not a date: write it as YYYY-MM-DD",
    ),
    "waiver_missing_expires.yml": (L.PolicyValidationError, None, 3, 5, "waivers[0]: missing required key: expires"),
    "waiver_bad_rule.yml": (L.PolicyValidationError, None, 3, 11, "(did you mean 'unexpected-listener'?)"),
    "bad_state_name.yml": (L.PolicyValidationError, None, 4, 5, "unknown key 'TIME-WAIT' (did you mean 'TIME_WAIT'?)"),
    "state_min_gt_max.yml": (L.PolicyValidationError, None, 4, 17, "min (10) is greater than max (5)"),
    "listen_fill_over_one.yml": (L.PolicyValidationError, None, 3, 22, "1.5 is out of range (must be <= 1)"),
    "bad_severity.yml": (L.PolicyValidationError, None, 4, 28, "'critical' is not one of error, warning, info"),
    "deny_without_matcher.yml": (
        L.PolicyValidationError,
        None,
        4,
        7,
        "a deny entry needs at least one of port, program, bind, user",
    ),
    "duplicate_key.yml": (L.PolicySyntaxError, None, 4, 3, "duplicate key 'default' (first defined on line 3)"),
    "python_tag.yml": (L.PolicySyntaxError, None, 1, 9, "unsupported YAML tag"),
    "alias_bomb.yml": (L.PolicySyntaxError, None, 7, 8, "expands to more than"),  # the alias that goes over
    "binary_junk.yml": (L.PolicyFileError, None, 2, None, "binary content (NUL byte at offset 10): not a YAML policy"),
    "not_utf8.yml": (L.PolicyFileError, None, 2, None, "not UTF-8 text (invalid byte 0xe9"),
    "missing_extends.yml": (L.PolicyFileError, None, 4, 5, "extends[1]: policy file"),
    "cycle_a.yml": (L.PolicyCycleError, "cycle_b.yml", 3, 11, "include cycle:"),
    "self_extends.yml": (L.PolicyCycleError, None, 2, 10, "include cycle:"),
    "extends_broken.yml": (
        L.PolicyValidationError,
        "broken_child.yml",
        4,
        18,
        "unknown key 'programm' (did you mean 'program'?)",
    ),
    "broken_child.yml": (L.PolicyValidationError, None, 4, 18, "unknown key 'programm'"),
}


# Files that are not text, not valid YAML, or that crash ansible-test's own YAML checks (an impossible
# date) are written by the test: ansible-test sanity lints every .yml file in the collection.
GENERATED = {
    'duplicate_key.yml': b'policy: x\nlisteners:\n  default: deny\n  default: allow\n',
    'python_tag.yml': b'policy: !!python/object/apply:os.system ["true"]\n',
    'yaml_bad_indent.yml': b'policy: x\nlisteners:\n  default: deny\n   allow: []\n',
    'yaml_tab_indent.yml': b'policy: x\nlisteners:\n\tdefault: deny\n',
    'yaml_unclosed_flow.yml': b'policy: x\nlisteners:\n  allow:\n    - {proto: tcp, port: [22, 80}\n',
    "bad_date.yml": (b"policy: x\nwaivers:\n  - rule: unexpected-listener\n    match: {port: 8080}\n"
                     b"    reason: TICKET-1\n    expires: 2026-02-30\n"),
    "binary_junk.yml": b"policy: x\n\x00\x01\x02\xff\xfe binary junk\x00\n",
    "not_utf8.yml": b"policy: x\ndescription: caf\xe9\n",
}


def test_every_bad_fixture_has_a_case():
    names = {os.path.basename(p) for p in glob.glob(os.path.join(BAD, "*.yml"))} | set(GENERATED)
    assert names - set(CASES) <= {"cycle_b.yml", "many_errors.yml"}
    assert len(names) >= 20


def bad_path(name, tmp_path):
    if name not in GENERATED:
        return os.path.join(BAD, name)
    path = str(tmp_path / name)
    with open(path, "wb") as f:
        f.write(GENERATED[name])
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_policy(name, tmp_path):
    cls, errfile, line, col, text = CASES[name]
    path = bad_path(name, tmp_path)
    started = time.monotonic()
    with pytest.raises(L.PolicyError) as info:
        L.load_policies(path)
    assert time.monotonic() - started < 10
    exc = info.value
    assert exc.__class__ is cls, str(exc)
    issue = exc.issues[0]
    assert os.path.basename(issue.file) == (errfile or name), str(exc)
    assert issue.line == line, str(exc)
    if col is not None:
        assert issue.column == col, str(exc)
    assert text in str(exc)
    # one line per issue, each starting with the file name; never a traceback
    for text_line in str(exc).splitlines():
        assert text_line.startswith(issue.file) or ":" in text_line
        assert "Traceback" not in text_line
    if line is not None:
        assert "%s:%d" % (issue.file, line) in str(exc)


def test_many_errors_are_all_reported_in_order():
    with pytest.raises(L.PolicyValidationError) as info:
        L.load_policies(os.path.join(BAD, "many_errors.yml"))
    lines = [(i.line, i.path) for i in info.value.issues]
    assert lines == [
        (5, "listeners.allow[0].proto"),
        (6, "listeners.allow[1].port"),
        (7, "listeners.allow[2].bind"),
        (10, "states.tcp.CLOSE_WAIT.maxx"),
        (12, "waivers[0].expires"),
    ]
    assert "(did you mean 'tcp'?)" in str(info.value)
    assert len(str(info.value).splitlines()) == 5


def test_errors_across_several_files_are_all_reported(tmp_path):
    with pytest.raises(L.PolicyError) as info:
        L.load_policies([bad_path("bad_date.yml", tmp_path), os.path.join(BAD, "bad_cidr_bind.yml")])
    files = sorted({os.path.basename(i.file) for i in info.value.issues})
    assert files == ["bad_cidr_bind.yml", "bad_date.yml"]


def test_50_megabyte_file_is_refused_quickly(tmp_path):
    big = tmp_path / "huge.yml"
    with open(str(big), "wb") as f:
        f.truncate(50 * 1024 * 1024)
    started = time.monotonic()
    with pytest.raises(L.PolicyFileError) as info:
        L.load_policies(str(big))
    assert time.monotonic() - started < 2
    assert "52428800 bytes, over the 1048576 byte limit" in str(info.value)
    assert info.value.issues[0].file.endswith("huge.yml")


def test_missing_top_level_file_and_directory(tmp_path):
    with pytest.raises(L.PolicyFileError, match="not found"):
        L.load_policies(str(tmp_path / "nope.yml"))
    with pytest.raises(L.PolicyFileError, match="is a directory"):
        L.load_policies(str(tmp_path))
    with pytest.raises(L.PolicyFileError, match="no policy given"):
        L.load_policies(None)
    with pytest.raises(L.PolicyValidationError, match="expected a policy file path or a mapping"):
        L.load_policies([42])


def test_extends_order_diamond_and_sources():
    loaded = L.load_policies(os.path.join(GOOD, "grandchild.yml"), display_base=FIXTURES)
    assert loaded.files == ["good/base.yml", "good/child.yml", "good/grandchild.yml"]
    base = loaded.layers[0]
    assert base["__file__"] == "good/base.yml"
    assert base["listeners"]["allow"][0][P.SOURCE_KEY] == "good/base.yml:6"
    assert base["listeners"][P.KEY_SOURCES]["default"] == "good/base.yml:4"
    merged = loaded.merged
    # grandchild disables base's named ssh entry; child's nginx entry stays
    assert [e.get("program") for e in merged["listeners"]["allow"]] == ["nginx"]
    assert merged["policies"] == ["base", "child", "grandchild"]


def test_findings_cite_the_rule_file_and_line():
    loaded = L.load_policies(os.path.join(GOOD, "child.yml"), display_base=FIXTURES)
    facts = {
        "collector": {"complete": True},
        "listeners": [
            {
                "proto": "tcp",
                "family": "ipv4",
                "address": "0.0.0.0",
                "port": 80,
                "user": "root",
                "uid": 0,
                "processes": [{"pid": 1, "name": "python3"}],
            },
            {
                "proto": "tcp",
                "family": "ipv4",
                "address": "0.0.0.0",
                "port": 9,
                "user": "root",
                "uid": 0,
                "processes": [{"pid": 2, "name": "x"}],
            },
        ],
    }
    result = P.evaluate(facts, loaded.layers, today="2026-01-01")
    got = [(f["rule"], f["source"]) for f in result["findings"]]
    assert ("wrong-owner", "good/child.yml:5") in got
    assert ("unexpected-listener", "good/base.yml:4") in got
    assert ("missing-listener", "good/base.yml:6") in got
    assert result["policy_files"] == ["good/base.yml", "good/child.yml"]


def test_inline_policy_validated_without_lines():
    loaded = L.load_policies({"policy": "inline", "listeners": {"default": "deny", "allow": [{"port": 22}]}})
    assert loaded.layers[0]["listeners"]["allow"][0][P.SOURCE_KEY] == "inline policy #1 listeners.allow[0]"
    with pytest.raises(L.PolicyValidationError) as info:
        L.load_policies([{"listeners": {"alow": []}}])
    assert str(info.value) == (
        "inline policy #1: listeners.alow: unknown key 'alow' (did you mean 'allow'?); "
        "allowed here: allow, default, deny, description"
    )
    # an already loaded (annotated) policy passes through untouched
    again = L.load_policies(loaded.layers)
    assert again.layers[0] is not None and again.layers[0][P.SOURCE_KEY] == loaded.layers[0][P.SOURCE_KEY]


def test_inline_extends_resolved_against_base_dir():
    loaded = L.load_policies({"extends": "base.yml", "policy": "x"}, base_dir=GOOD, display_base=FIXTURES)
    assert loaded.files == ["good/base.yml", "inline policy #1"]


def test_size_limit_is_configurable(tmp_path):
    p = tmp_path / "p.yml"
    p.write_text("policy: " + "x" * 200 + "\n")
    with pytest.raises(L.PolicyFileError, match="over the 100 byte limit"):
        L.load_policies(str(p), max_bytes=100)


def test_schema_is_valid_and_strict_everywhere():
    jsonschema = pytest.importorskip("jsonschema")
    with open(L.SCHEMA_PATH) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)

    def walk(node, where):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                assert node.get("additionalProperties") is False, where
            for k, v in node.items():
                walk(v, where + "/" + k)
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s/%d" % (where, i))

    walk(schema, "#")


def test_rule_ids_in_schema_match_engine():
    schema = L.load_schema()
    enum = schema["$defs"]["waiver"]["properties"]["rule"]["anyOf"][0]["enum"]
    assert sorted(r for r in enum if r != "*") == sorted(P.RULES)
    assert sorted(schema["properties"]["severities"]["propertyNames"]["enum"]) == sorted(P.RULES)


def test_inline_policy_with_date_objects():
    import datetime

    pol = {"waivers": [{"rule": "wrong-bind", "reason": "r", "expires": datetime.date(2030, 1, 1)}]}
    loaded = L.load_policies(pol)
    assert loaded.layers[0]["waivers"][0]["expires"] == "2030-01-01"


def test_special_files_do_not_hang(tmp_path):
    fifo = tmp_path / "pipe.yml"
    os.mkfifo(str(fifo))
    started = time.monotonic()
    with pytest.raises(L.PolicyFileError, match="not a regular file"):
        L.load_policies(str(fifo))
    with pytest.raises(L.PolicyFileError, match="not a regular file"):
        L.load_policies("/dev/zero")
    assert time.monotonic() - started < 2


def test_multiple_documents_are_an_error(tmp_path):
    p = tmp_path / "two.yml"
    p.write_text("policy: a\n---\npolicy: b\n")
    with pytest.raises(L.PolicySyntaxError) as info:
        L.load_policies(str(p))
    assert info.value.issues[0].line == 2 and "expected a single document" in str(info.value)


def test_a_string_holding_a_flow_list_is_that_list(tmp_path):
    """`-e netaudit_policies=[a.yml,b.yml]` hands the action a string: it is read as the list it
    holds, each entry found as a path of its own; a broken list is a syntax error that says so."""
    (tmp_path / "a.yml").write_text("policy: a\nlisteners: {default: allow}\n")
    (tmp_path / "b.yml").write_text("policy: b\nlisteners: {default: deny}\n")
    loaded = L.load_policies("[a.yml, b.yml]", dirs=[str(tmp_path)])
    assert [p["policy"] for p in loaded.layers] == ["a", "b"]
    assert L.load_policies(" ['a.yml'] ", dirs=[str(tmp_path)]).layers[0]["policy"] == "a"
    with pytest.raises(L.PolicySyntaxError) as err:
        L.load_policies("[a.yml, [b.yml]", dirs=[str(tmp_path)])
    assert "the policy list" in str(err.value)
    with pytest.raises(L.PolicyFileError) as err:  # not a list: a path, and it says where it looked
        L.load_policies("[a.yml, b.yml", dirs=[str(tmp_path)])
    assert "[a.yml, b.yml not found" in str(err.value)
    with pytest.raises(L.PolicyError) as err:
        L.load_policies("[a.yml, missing.yml]", dirs=[str(tmp_path)])
    assert "missing.yml" in str(err.value)
    with pytest.raises(L.PolicyError):
        L.load_policies("[&x [*x, *x]]", dirs=[str(tmp_path)])  # an alias: refused like in a file
