# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Property-based tests (hypothesis): whatever a host or a policy file contains, each reader
answers with a value or its own typed error (naming where), never another exception, and never
a value the kernel could not have written."""

import functools
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ansible_collections.netaudit.netstat.plugins.module_utils import _common, _netlink, _policy, _procfs
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _policy_loader, _report

import fuzz_stats

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
NETLINK = os.path.join(REPO, "tests", "unit", "fixtures", "netlink")
# No example database: nothing is written to the checkout (.hypothesis) or anywhere else.
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)


def counted(name):
    def deco(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            fuzz_stats.count(name)
            try:
                return fn(*args, **kwargs)
            except BaseException:
                fuzz_stats.fail(name)
                raise

        return wrapper

    return deco


# -- policy loader ---------------------------------------------------------------------------

KEYS = ["policy", "extends", "listeners", "default", "allow", "deny", "proto", "port", "bind", "program", "user",
        "required", "states", "tcp", "TIME_WAIT", "max", "min", "queues", "listen_fill", "unix", "path", "waivers",
        "rule", "match", "reason", "expires", "services", "severities", "completeness", "severity", "<<", "name"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20), st.sampled_from(KEYS),
    st.sampled_from(["tcp", "udp", "any", "deny", "allow", "loopback", "ssh", "80-90", "2026-12-31", "*", "error"]),
)
DOCS = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.sampled_from(KEYS), children, max_size=5)),
    max_leaves=25,
)


def _load(tmp_path, text):
    path = tmp_path / "p.yml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        loaded = _policy_loader.load_policies([str(path)])
    except _policy_loader.PolicyError as exc:
        for issue in exc.issues:
            assert issue.file and issue.message  # names the file and says what is wrong
        return None
    _policy.evaluate({"listeners": [], "collector": {}, "counts": {}}, loaded.layers, today="2026-06-01")
    return loaded


@SETTINGS
@given(doc=DOCS)
@counted("policy documents (generated structure)")
def test_policy_loader_structured(tmp_path_factory, doc):
    import yaml

    text = yaml.safe_dump({"policy": "p", "x": doc} if not isinstance(doc, dict) else doc, allow_unicode=True)
    _load(tmp_path_factory.mktemp("p"), text)


@SETTINGS
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
@counted("policy documents (any text)")
def test_policy_loader_any_text(tmp_path_factory, text):
    _load(tmp_path_factory.mktemp("p"), text)


@SETTINGS
@given(doc=DOCS)
@counted("inline policies")
def test_policy_loader_inline(doc):
    try:
        loaded = _policy_loader.load_policies([doc if isinstance(doc, dict) else {"policy": "p", "listeners": doc}])
    except _policy_loader.PolicyError:
        return
    _policy.evaluate({"listeners": []}, loaded.layers, today="2026-06-01")


# -- engine with generated facts --------------------------------------------------------------

PROC = st.fixed_dictionaries({
    "pid": st.integers(1, 99999), "name": st.text(max_size=16), "exe": st.none() | st.text(max_size=30),
    "uid": st.integers(0, 70000), "user": st.none() | st.text(max_size=8),
})
LISTENER = st.fixed_dictionaries({
    "proto": st.sampled_from(["tcp", "udp"]), "family": st.sampled_from(["ipv4", "ipv6"]),
    "address": st.sampled_from(["0.0.0.0", "::", "127.0.0.1", "::1", "10.1.2.3", "fe80::1%eth0", "bogus"]),
    "port": st.integers(1, 65535), "uid": st.integers(0, 70000), "user": st.none() | st.text(max_size=8),
    "backlog": st.none() | st.integers(0, 4096), "recv_q": st.integers(0, 4096),
    "processes": st.lists(PROC, max_size=3),
    "owner_unresolved": st.none() | st.fixed_dictionaries({
        "cause": st.sampled_from(["not-root", "capabilities", "lsm"]),
        "pids": st.lists(st.integers(1, 9), max_size=2), "detail": st.text(max_size=10),
    }),
})
GOOD_FACTS = st.fixed_dictionaries({
    "collector": st.fixed_dictionaries({"complete": st.booleans(), "reasons": st.lists(st.text(max_size=10), max_size=2),
                                        "owners": st.booleans()}),
    "listeners": st.lists(LISTENER, max_size=6),
    "counts": st.just({"tcp": {s: 1 for s in _policy.TCP_STATE_NAMES}}),
})
FACT_KEYS = st.sampled_from(["listeners", "counts", "unix", "processes", "port", "collector", "connections", "tcp", "name"])
ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(FACT_KEYS, c, max_size=4),
    max_leaves=20,
)
POLICIES = [os.path.join(REPO, "policies", "default.yml")] + sorted(
    os.path.join(REPO, "policies", "examples", f) for f in os.listdir(os.path.join(REPO, "policies", "examples"))
)
LOADED = [_policy_loader.load_policies([p]).layers for p in POLICIES]


@SETTINGS
@given(facts=GOOD_FACTS, which=st.integers(0, len(LOADED) - 1))
@counted("facts (well-formed) x shipped policies")
def test_engine_on_generated_facts(facts, which):
    result = _policy.evaluate(facts, LOADED[which], today="2026-06-01")
    assert result["verdict"] in ("compliant", "drift", "incomplete")
    json.dumps(result, allow_nan=False)
    model = _report.build_report({"h": dict(result, status="ok", facts=facts)})
    for render in _report.RENDERERS.values():
        render(model)


@SETTINGS
@given(facts=ANY_JSON, which=st.integers(0, len(LOADED) - 1))
@counted("facts (any shape) x shipped policies")
def test_engine_on_any_facts(facts, which):
    try:
        _policy.evaluate(facts, LOADED[which], today="2026-06-01")
    except _policy.PolicyEvalError as exc:
        assert str(exc)


@SETTINGS
@given(entries=st.dictionaries(st.text(max_size=8), ANY_JSON, max_size=4))
@counted("report host entries (any shape)")
def test_report_survives_any_host(entries):
    model = _report.build_report({"good": {"status": "ok", "findings": []}, "odd": entries})
    assert {h["host"] for h in model["hosts"]} == {"good", "odd"}
    for render in _report.RENDERERS.values():
        render(model)


# -- /proc/net parsers -------------------------------------------------------------------------

HEX = "0123456789ABCDEF"
FIELD = st.text(alphabet=HEX + ":+-_ x", max_size=40)


@SETTINGS
@given(fields=st.lists(FIELD, min_size=0, max_size=14), family=st.sampled_from(["ipv4", "ipv6"]))
@counted("/proc/net/tcp lines")
def test_procfs_inet_lines(fields, family):
    errors = []
    lines = ["  sl  local_address rem_address   st\n", "   0: " + " ".join(fields) + "\n"]
    for sock in _procfs.parse_inet_lines(lines, "/proc/net/tcp", "tcp", family, None, errors):
        assert 0 <= sock.local_port <= 65535 and 0 <= sock.remote_port <= 65535
        assert 0 <= sock.uid < 2 ** 32 and sock.inode >= 0
    for e in errors:
        assert "/proc/net/tcp:2:" in e


@SETTINGS
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=400))
@counted("/proc/net/unix tables")
def test_procfs_unix_lines(text):
    errors = []
    lines = ["Num       RefCount Protocol Flags    Type St Inode Path\n"] + text.splitlines(True)
    for sock in _procfs.parse_unix_lines(lines, "/proc/net/unix", errors):
        assert sock.inode >= 0 and sock.type


def test_unix_path_with_newline_cannot_forge_a_file_socket(tmp_path):
    """A socket whose name ends in a newline and a whole line in the table's shape: the file
    system check sees the real (longer) name, so no forged socket appears and the path is whole."""
    forged = "0000000000000000: 00000002 00000000 00010000 0001 01 99999 /run/forged.sock"
    real = str(tmp_path / "evil") + "\n" + forged
    head = "0000000000000000: 00000002 00000000 00010000 0001 01 12345 " + real.split("\n", maxsplit=1)[0]
    lines = ["Num RefCount Protocol Flags Type St Inode Path\n", head + "\n", forged + "\n"]
    socks = list(_procfs.parse_unix_lines(lines, "/proc/net/unix", [], is_socket=lambda p: p == real, joined=[]))
    assert [(s.inode, s.path) for s in socks] == [(12345, real)]
    # without the file (an abstract name, say) the table is ambiguous: two records, as the kernel wrote them
    socks = list(_procfs.parse_unix_lines(lines, "/proc/net/unix", [], is_socket=lambda p: False))
    assert [s.inode for s in socks] == [12345, 99999]


# -- netlink decoders --------------------------------------------------------------------------

def _fixture(name):
    with open(os.path.join(NETLINK, name), "rb") as f:
        return f.read()


REPLIES = [(n, _fixture(n)) for n in sorted(os.listdir(NETLINK)) if n.endswith(".bin")]


@SETTINGS
@given(
    which=st.integers(0, len(REPLIES) - 1),
    flips=st.lists(st.tuples(st.integers(0, 10 ** 6), st.integers(0, 255)), max_size=6),
    cut=st.none() | st.integers(0, 10 ** 6),
)
@counted("netlink replies (mutated captures)")
def test_netlink_decoders_on_mutated_replies(which, flips, cut):
    name, buf = REPLIES[which]
    buf = bytearray(buf)
    for pos, value in flips:
        if buf:
            buf[pos % len(buf)] = value
    if cut is not None and buf:
        buf = buf[: cut % (len(buf) + 1)]
    buf = bytes(buf)
    for decode in (lambda b: _netlink.decode_inet_messages(b, "tcp", lambda i: "if%d" % i), _netlink.decode_unix_messages):
        try:
            records, _done = decode(buf)
        except (_netlink.NetlinkParseError, _netlink.NetlinkError) as exc:
            assert str(exc)
            continue
        for rec in records:
            if hasattr(rec, "local_port"):
                assert 0 <= rec.local_port <= 65535


@SETTINGS
@given(errno=st.integers(-(2 ** 31), 2 ** 31 - 1))
@counted("NLMSG_ERROR codes")
def test_netlink_error_codes(errno):
    import struct

    msg = struct.pack("=IHHII", 36, 2, 0, 1, 0) + struct.pack("=i", errno) + b"\0" * 16
    try:
        _netlink.decode_unix_messages(msg)
    except (_netlink.NetlinkParseError, _netlink.NetlinkError) as exc:
        assert str(exc)


# -- names -------------------------------------------------------------------------------------

@SETTINGS
@given(raw=st.binary(max_size=40))
@counted("host names as bytes")
def test_host_text_is_json_and_reversible(raw):
    text, hexed = _common.host_text(raw)
    json.dumps(text).encode("utf-8")  # no lone surrogates: ansible-core accepts it
    original = bytes.fromhex(hexed) if hexed is not None else text.encode("utf-8")
    assert original == raw


@pytest.mark.parametrize("text", ["a\\xffb", "plain", "\\x", "caf\u00e9"])
def test_unescape_host_text(text):
    assert _common.unescape_host_text(_common.host_text(text.encode("utf-8", "surrogateescape"))[0])
