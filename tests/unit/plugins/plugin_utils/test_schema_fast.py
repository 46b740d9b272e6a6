# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fast schema check never disagrees with jsonschema: when it says valid or invalid, jsonschema
says the same (it may say "don't know"; then jsonschema decides). Hypothesis builds policies from
the schema's own property names and from values valid and not."""

import glob
import os

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from ansible_collections.netaudit.netstat.plugins.plugin_utils import _policy_loader, _schema_fast

SCHEMA = _policy_loader.load_schema()
VALIDATOR = _policy_loader._validator(SCHEMA)
FAST = _schema_fast.compile_schema(SCHEMA, VALIDATOR.format_checker)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))


def _names(node, out):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                out.update(value)
            _names(value, out)
    elif isinstance(node, list):
        for value in node:
            _names(value, out)
    return out


KEYS = sorted(_names(SCHEMA, set())) + ["bogus", "Port", ""]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 70000), st.sampled_from([0, 1, 22, 65535, 65536, 1.0, 2.5, float("inf")]),
    st.sampled_from(["tcp", "udp", "any", "unix", "", "ssh", "8000-8100", "x y", "deny", "allow", "error", "warning",
                     "info", "ignore", "2026-12-31", "2026-13-45", "loopback", "0.0.0.0", "LISTEN", "TIME_WAIT",
                     "stream", "nginx", "root", "/run/x.sock", "any"]),
    st.text(max_size=6),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=12,
)
DOCS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6)


def _agrees(doc):
    fast = FAST(doc)
    valid = VALIDATOR.is_valid(doc)
    assert fast in (None, valid), (fast, valid, doc)
    return fast


@settings(max_examples=1500, deadline=None)
@given(DOCS)
def test_random_documents(doc):
    _agrees(doc)


@settings(max_examples=1500, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=5), max_size=4),
       st.sampled_from(["allow", "deny"]), st.sampled_from(["listeners", "unix", "egress", "waivers", "states"]))
def test_policies_with_entries(entries, kind, section):
    if section == "waivers":
        doc = {"policy": "p", "waivers": entries}
    else:
        doc = {"policy": "p", section: {kind: entries, "default": "deny"}}
    _agrees(doc)


def test_shipped_policies_take_the_fast_path():
    files = glob.glob(os.path.join(REPO, "policies", "**", "*.yml"), recursive=True)
    assert files
    for path in files:
        with open(path) as f:
            doc = _policy_loader._strip_internal(yaml.safe_load(f))
        assert FAST(doc) is True and VALIDATOR.is_valid(doc), path


def test_invalid_documents_are_still_reported_by_jsonschema(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("policy: p\nlisteners:\n  allow:\n    - {proto: tcp, port: 0}\n    - {proto: tcpx, port: 22}\n")
    with pytest.raises(_policy_loader.PolicyError) as caught:
        _policy_loader.load_policies([str(bad)])
    text = str(caught.value)
    assert "bad.yml:4" in text and "bad.yml:5" in text and "tcpx" in text
