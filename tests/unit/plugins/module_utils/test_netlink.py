# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netlink sock_diag decoders on captured binary replies (tests/unit/fixtures/netlink).

The fixtures come from tests/unit/fixtures/netlink/capture.py: real kernel replies for a known
set of sockets in a throw-away network namespace, plus truncated and malformed variants.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import socket
import struct
import sys

import pytest
from hypothesis import given, settings, strategies as st

# (tests/conftest.py puts the checkout's .venv/collections on sys.path for plain pytest runs.)
from ansible_collections.netaudit.netstat.plugins.module_utils import (
    _common,
    _netlink,
    _owners,
)

FIXTURES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "fixtures", "netlink")


def _read(name):
    with open(os.path.join(FIXTURES, name), "rb") as f:
        return f.read()


with open(os.path.join(FIXTURES, "expected.json")) as _f:
    EXPECTED = json.load(_f)
_IFNAMES = {v: k for k, v in EXPECTED["ifindex"].items()}


def _ifname(index):
    return _IFNAMES.get(index, str(index))


def _decode_inet(name, proto):
    records, done = _netlink.decode_inet_messages(_read(name), proto, ifname=_ifname)
    assert done, f"NLMSG_DONE missing in {name}"
    return records


def _inet_key(rec):
    return (
        rec["local_address"],
        rec["local_port"],
        rec["remote_address"],
        rec["remote_port"],
    )


def _check_inet(records, expected):
    by_key = {_inet_key(r._asdict()): r for r in records}
    assert len(by_key) == len(records), "duplicate sockets in the dump"
    for exp in expected:
        key = _inet_key(exp)
        assert key in by_key, f"missing {key}; decoded: {sorted(by_key)}"
        got = by_key[key]._asdict()
        for field, value in exp.items():
            if field == "recv_q_min":
                assert got["recv_q"] >= value, (key, got)
                continue
            assert got[field] == value, (key, field, got[field], value)
        assert got["pids"] is None
    # Nothing else in the namespace: the dump holds exactly the sockets the capture opened.
    assert len(records) == len(expected)


@pytest.mark.parametrize(
    "name, proto, key",
    [
        ("tcp4_all.bin", "tcp", "tcp4"),
        ("tcp6_all.bin", "tcp", "tcp6"),
        ("udp4_all.bin", "udp", "udp4"),
        ("udp6_all.bin", "udp", "udp6"),
    ],
)
def test_inet_dump_matches_known_sockets(name, proto, key):
    _check_inet(_decode_inet(name, proto), EXPECTED[key])


def test_inet_listen_dump_has_only_listeners():
    for name, key in (("tcp4_listen.bin", "tcp4"), ("tcp6_listen.bin", "tcp6")):
        records = _decode_inet(name, "tcp")
        expected = [e for e in EXPECTED[key] if e["state"] == "LISTEN"]
        assert expected
        _check_inet(records, expected)


def test_listener_fields():
    by_port = {r.local_port: r for r in _decode_inet("tcp4_listen.bin", "tcp")}
    lst = by_port[5001]
    assert (lst.state, lst.recv_q, lst.send_q, lst.backlog) == ("LISTEN", 1, 0, 7)
    assert by_port[5004].interface == "lo"
    v6 = {r.local_port: r for r in _decode_inet("tcp6_listen.bin", "tcp")}
    assert v6[5002].v6only is True
    assert v6[5003].v6only is False
    assert v6[5003].local_address == "::"


def test_v4_mapped_and_scoped_addresses():
    records = _decode_inet("tcp6_all.bin", "tcp")
    mapped = [r for r in records if r.local_address.startswith("::ffff:")]
    assert mapped and mapped[0].local_address == "::ffff:127.0.0.1"
    assert mapped[0].remote_address == "::ffff:127.0.0.1"
    if "nlv0" in EXPECTED["ifindex"]:
        scoped = [r for r in records if r.local_port == 5005]
        assert scoped[0].local_address == "fe80::1%nlv0"
        assert scoped[0].interface == "nlv0"


def test_time_wait_and_unaccepted_have_no_inode():
    records = _decode_inet("tcp4_all.bin", "tcp")
    tw = [r for r in records if r.state == "TIME_WAIT"]
    assert len(tw) == 1 and tw[0].inode == 0 and tw[0].v6only is None


def test_syn_recv_request_sockets():
    """Request sockets (TCP_NEW_SYN_RECV in the kernel) come as SYN_RECV with no inode."""
    expected = [e for e in EXPECTED["tcp4"] if e["state"] == "SYN_RECV"]
    if not expected:
        pytest.skip("fixtures captured without veth support")
    records = [r for r in _decode_inet("tcp4_all.bin", "tcp") if r.state == "SYN_RECV"]
    assert sorted(r.remote_port for r in records) == sorted(e["remote_port"] for e in expected)
    assert all(r.inode == 0 and r.remote_address == "10.9.9.2" and r.backlog is None for r in records)


def test_unix_dump_matches_known_sockets():
    records, done = _netlink.decode_unix_messages(_read("unix_all.bin"))
    assert done
    by_inode = {r.inode: r for r in records}
    assert len(records) == len(EXPECTED["unix"])
    for exp in EXPECTED["unix"]:
        got = by_inode[exp["inode"]]._asdict()
        for field, value in exp.items():
            assert got[field] == value, (exp["inode"], field, got[field], value)
        assert got["refcnt"] is None  # netlink has no refcnt
        assert got["pids"] is None


def test_unix_without_attributes():
    records, done = _netlink.decode_unix_messages(_read("unix_noattr.bin"))
    assert done
    assert sorted(r.inode for r in records) == sorted(
        e["inode"] for e in EXPECTED["unix"]
    )
    assert all(r.path is None and r.peer is None and r.recv_q is None for r in records)
    states = sorted(r.state for r in records)
    assert states == sorted(e["state"] for e in EXPECTED["unix"])


def test_state_counts_decoder():
    tally = [0] * 256
    for name in ("tcp4_all.bin", "tcp6_all.bin"):
        assert _netlink.decode_state_counts(_read(name), tally)
    expected = {}
    for e in EXPECTED["tcp4"] + EXPECTED["tcp6"]:
        expected[e["state"]] = expected.get(e["state"], 0) + 1
    got = {}
    for code, n in enumerate(tally):
        if n:
            name = _common.tcp_state_name(code)
            got[name] = got.get(name, 0) + n
    assert got == expected

    tally = [0] * 256
    assert _netlink.decode_state_counts(_read("unix_noattr.bin"), tally)
    assert tally[10] == 2  # two listeners (TCP_LISTEN in unix_diag)
    assert sum(tally) == len(EXPECTED["unix"])


def _count_one_by_one(buf):
    """The reference for decode_state_counts: one message at a time, no runs."""
    tally = [0] * 256
    off = 0
    while off < len(buf):
        mlen, mtype = struct.unpack_from("=IH", buf, off)
        if mtype == _netlink.NLMSG_DONE:
            return tally, True
        tally[buf[off + (18 if buf[off + 16] == socket.AF_UNIX else 17)]] += 1
        off += (mlen + 3) & ~3
    return tally, False


_MESSAGE = st.tuples(
    st.sampled_from([socket.AF_INET, socket.AF_INET6, socket.AF_UNIX]),
    st.integers(0, 12),  # state byte
    st.sampled_from([20, 23, 88, 96, 124, 125]),  # lengths (not all aligned)
    st.sampled_from([2, 3]),  # nlmsg_flags (NLM_F_MULTI and another)
    st.sampled_from([7, 8]),  # sequence
)


@settings(max_examples=300, deadline=None)
@given(runs=st.lists(st.tuples(_MESSAGE, st.integers(1, 70)), max_size=12), done=st.booleans(),
       split=st.integers(0, 10_000))
def test_state_counts_runs_equal_one_by_one(runs, done, split):
    """The strided fast path over runs of equal headers counts exactly what a message-by-message
    loop counts, whatever the mix of families, lengths, flags and sequence numbers, and wherever
    a recv buffer ends (split between messages)."""
    messages = []
    for (family, state, length, flags, seq), repeat in runs:
        body = bytes([family, state if family != socket.AF_UNIX else 1, state]) + b"\x00" * (length - 19)
        msg = struct.pack("=IHHII", length, _netlink.SOCK_DIAG_BY_FAMILY, flags, seq, 4242) + body
        messages += [msg + b"\x00" * (((length + 3) & ~3) - length)] * repeat
    if done:
        messages.append(struct.pack("=IHHIIi", 20, _netlink.NLMSG_DONE, 2, 7, 4242, 0))
    cut = split % (len(messages) + 1)
    chunks = [b"".join(messages[:cut]), b"".join(messages[cut:])]
    tally = [0] * 256
    seen = [_netlink.decode_state_counts(memoryview(bytearray(c)), tally) for c in chunks if c]
    expected, expected_done = _count_one_by_one(b"".join(messages))
    assert tally == expected
    assert any(seen) == expected_done == done


def test_chunked_decode_equals_whole():
    """Decoding message by message (as recv buffers arrive) gives the same records."""
    data = _read("tcp4_all.bin")
    whole, _done = _netlink.decode_inet_messages(data, "tcp", ifname=_ifname)
    parts = []
    off = 0
    done = False
    while off < len(data):
        mlen = struct.unpack_from("=I", data, off)[0]
        recs, done = _netlink.decode_inet_messages(
            data[off : off + mlen], "tcp", ifname=_ifname
        )
        parts.extend(recs)
        off += (mlen + 3) & ~3
    assert done and parts == whole
    # A memoryview over a larger buffer works too (the backend decodes recv_into buffers).
    buf = bytearray(len(data) + 100)
    buf[: len(data)] = data
    view, _done = _netlink.decode_inet_messages(
        memoryview(buf)[: len(data)], "tcp", ifname=_ifname
    )
    assert view == whole


def test_no_done_means_not_finished():
    data = _read("udp4_all.bin")
    last = 0
    off = 0
    while off < len(data):
        last = off
        off += (struct.unpack_from("=I", data, off)[0] + 3) & ~3
    records, done = _netlink.decode_inet_messages(data[:last], "udp")
    assert not done and len(records) == len(EXPECTED["udp4"])


def test_nlmsg_error_raises_clear_error():
    with pytest.raises(_netlink.NetlinkError) as exc:
        _netlink.decode_inet_messages(_read("error_enoent.bin"), "tcp")
    assert exc.value.errno == 2
    assert "No such file or directory" in str(exc.value)
    assert isinstance(exc.value, _common.NetstatError)
    with pytest.raises(_netlink.NetlinkError):
        _netlink.decode_unix_messages(_read("error_enoent.bin"))
    with pytest.raises(_netlink.NetlinkError):
        _netlink.decode_state_counts(_read("error_enoent.bin"), [0] * 256)


def test_ack_is_not_an_error():
    ack = struct.pack("=IHHIIi", 20, _netlink.NLMSG_ERROR, 0, 1, 0, 0)
    done = struct.pack("=IHHIIi", 20, _netlink.NLMSG_DONE, 0, 1, 0, 0)
    assert _netlink.decode_inet_messages(ack + done, "tcp") == ([], True)


@pytest.mark.parametrize(
    "name, decoder, needle",
    [
        ("tcp6_truncated_body.bin", "inet", "truncated message"),
        ("tcp6_truncated_header.bin", "inet", "truncated message header"),
        ("tcp6_bad_attr.bin", "inet", "bad attribute"),
        ("tcp6_short_msg.bin", "inet", "inet_diag_msg too short"),
        ("unix_bad_attr.bin", "unix", "bad attribute"),
        ("unix_truncated.bin", "unix", "truncated message"),
    ],
)
def test_malformed_replies_raise_parse_error(name, decoder, needle):
    data = _read(name)
    with pytest.raises(_common.ParseError) as exc:
        if decoder == "inet":
            _netlink.decode_inet_messages(data, "tcp")
        else:
            _netlink.decode_unix_messages(data)
    msg = str(exc.value)
    assert needle in msg
    assert f"at offset {exc.value.offset}" in msg
    assert isinstance(exc.value, _netlink.NetlinkParseError)


@pytest.mark.parametrize(
    "name", ["tcp6_truncated_body.bin", "tcp6_truncated_header.bin"]
)
def test_counts_decoder_rejects_truncation(name):
    with pytest.raises(_common.ParseError):
        _netlink.decode_state_counts(_read(name), [0] * 256)


def test_every_prefix_fails_cleanly():
    """No cut of a real reply may escape as IndexError / struct.error."""
    for name, decode in (
        ("tcp6_all.bin", lambda b: _netlink.decode_inet_messages(b, "tcp")),
        ("unix_all.bin", _netlink.decode_unix_messages),
        ("tcp4_all.bin", lambda b: _netlink.decode_state_counts(b, [0] * 256)),
    ):
        data = _read(name)
        for cut in range(len(data)):
            try:
                decode(data[:cut])
            except _common.ParseError:
                pass


def test_every_corrupted_length_fails_cleanly():
    """Garbage in any 16-bit length field: a ParseError or a result, never another exception."""
    data = _read("unix_all.bin")
    for pos in range(0, len(data) - 1, 2):
        for value in (0, 1, 3, 0xFFFF):
            bad = bytearray(data)
            struct.pack_into("=H", bad, pos, value)
            try:
                _netlink.decode_unix_messages(bytes(bad))
            except (_common.ParseError, _netlink.NetlinkError):
                pass


def test_unknown_family_is_a_parse_error():
    data = bytearray(_read("tcp4_listen.bin"))
    data[16] = 99
    with pytest.raises(
        _netlink.NetlinkParseError, match="unexpected address family 99"
    ):
        _netlink.decode_inet_messages(bytes(data), "tcp")


def test_unix_path_decoding():
    assert _netlink._unix_path(b"/run/x.sock\0") == ("/run/x.sock", False)
    assert _netlink._unix_path(b"\0abc\0def") == ("@abc@def", True)
    assert _netlink._unix_path(b"") == (None, False)
    assert _netlink._unix_path(b"/tmp/\xff") == ("/tmp/\\xff", False)


def test_states_mask():
    assert _netlink.states_mask(None) == _netlink.ALL_STATES
    assert _netlink.states_mask({"LISTEN"}) == 1 << 10
    assert _netlink.states_mask({"SYN_RECV"}) == (1 << 3) | (1 << 12)
    assert _netlink.states_mask({"CLOSED", "LISTEN"}) == (1 << 7) | (1 << 10)
    assert _netlink.states_mask({"UNKNOWN"}) == 0
    assert _netlink.states_mask(set()) == 0


def test_requests_have_kernel_sizes():
    req = _netlink.inet_request("tcp", "ipv6", 1 << 10, seq=7)
    assert len(req) == 72
    length, mtype, flags, seq = struct.unpack_from("=IHHI", req)
    assert (length, mtype, flags, seq) == (72, 20, 0x301, 7)
    assert req[16:18] == bytes([socket.AF_INET6, socket.IPPROTO_TCP])
    assert struct.unpack_from("=I", req, 20)[0] == 1 << 10
    assert len(_netlink.unix_request()) == 40


def test_check_unavailable_off_linux(monkeypatch):
    monkeypatch.setattr(_netlink.sys, "platform", "freebsd13")
    with pytest.raises(_common.BackendUnavailable, match="needs Linux"):
        _netlink.NetlinkBackend().check()


def test_check_unavailable_when_socket_refused(monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(_netlink.NetlinkBackend, "_open", lambda self: refuse())
    with pytest.raises(_common.BackendUnavailable, match="Operation not permitted"):
        _netlink.NetlinkBackend().check()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")
def test_live_backend_smoke():
    """The backend runs against this host's kernel (whatever sockets exist)."""
    backend = _netlink.NetlinkBackend()
    try:
        backend.check()
    except _common.BackendUnavailable as exc:
        pytest.skip(str(exc))
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(3)
    try:
        port = srv.getsockname()[1]
        inode = os.fstat(srv.fileno()).st_ino
        listeners = list(
            backend.inet_sockets(
                protocols=("tcp",), families=("ipv4",), states={"LISTEN"}
            )
        )
        assert all(s.state == "LISTEN" for s in listeners)
        mine = [s for s in listeners if s.local_port == port]
        assert mine and mine[0].inode == inode and mine[0].backlog == 3
        counts = backend.state_counts(("tcp", "udp", "unix"))
        assert counts["tcp"]["LISTEN"] >= 1
        assert set(counts["tcp"]) == set(_common.STATE_NAMES)
        assert set(counts["unix"]) == set(_common.UNIX_STATE_NAMES)
        list(backend.unix_sockets())
    finally:
        srv.close()


class _FakeSock:
    """Stands in for the netlink socket: replays fixture bytes one message per recv."""

    def __init__(self, replies, fail=None):
        self.replies = list(replies)
        self.fail = fail
        self.sent = []
        self.closed = False

    def sendall(self, data):
        self.sent.append(bytes(data))

    def recv_into(self, buf):
        if self.fail is not None:
            raise self.fail
        if not self.replies:
            return 0
        data = self.replies.pop(0)
        buf[: len(data)] = data
        return len(data)

    def close(self):
        self.closed = True


def _split_messages(data):
    out = []
    off = 0
    while off < len(data):
        step = (struct.unpack_from("=I", data, off)[0] + 3) & ~3
        out.append(data[off : off + step])
        off += step
    return out


def test_backend_plumbing_on_replayed_replies(monkeypatch):
    socks = []

    def fake_open(self):
        socks.append(_FakeSock(_split_messages(_read("tcp6_listen.bin"))))
        return socks[-1]

    monkeypatch.setattr(_netlink.NetlinkBackend, "_open", fake_open)
    backend = _netlink.NetlinkBackend()
    got = list(backend.inet_sockets(protocols=("tcp",), families=("ipv6",), states={"LISTEN"}))
    assert sorted(r.local_port for r in got) == sorted(e["local_port"] for e in EXPECTED["tcp6"] if e["state"] == "LISTEN")
    assert len(socks) == 1 and socks[0].closed
    request = socks[0].sent[0]
    assert struct.unpack_from("=I", request, 20)[0] == 1 << 10  # the kernel-side state filter


def test_abandoned_dump_closes_its_socket(monkeypatch):
    socks = []

    def fake_open(self):
        socks.append(_FakeSock(_split_messages(_read("unix_all.bin"))))
        return socks[-1]

    monkeypatch.setattr(_netlink.NetlinkBackend, "_open", fake_open)
    gen = _netlink.NetlinkBackend().unix_sockets()
    next(gen)
    gen.close()
    assert socks[0].closed


def test_socket_error_mid_dump_is_a_netlink_error(monkeypatch):
    fake = _FakeSock([], fail=OSError(105, "No buffer space available"))
    monkeypatch.setattr(_netlink.NetlinkBackend, "_open", lambda self: fake)
    with pytest.raises(_netlink.NetlinkError, match="Errno 105"):
        list(_netlink.NetlinkBackend().unix_sockets())
    assert fake.closed


def test_reply_without_done_is_an_error(monkeypatch):
    data = _read("udp4_all.bin")
    fake = _FakeSock(_split_messages(data)[:-1])  # NLMSG_DONE never comes; then EOF
    monkeypatch.setattr(_netlink.NetlinkBackend, "_open", lambda self: fake)
    with pytest.raises(_common.NetstatError, match="before NLMSG_DONE"):
        list(_netlink.NetlinkBackend().inet_sockets(("udp",), ("ipv4",)))


def test_state_counts_on_replayed_replies(monkeypatch):
    files = {
        ("tcp", 2): "tcp4_all.bin",
        ("tcp", 10): "tcp6_all.bin",
        ("udp", 2): "udp4_all.bin",
        ("udp", 10): "udp6_all.bin",
    }
    queue = []

    class Sock(_FakeSock):
        def sendall(self, data):
            family, proto = data[16], data[17]
            if family == socket.AF_UNIX:
                self.replies = _split_messages(_read("unix_noattr.bin"))
            else:
                self.replies = _split_messages(_read(files[({6: "tcp", 17: "udp"}[proto], family)]))

    monkeypatch.setattr(_netlink.NetlinkBackend, "_open", lambda self: queue.append(Sock([])) or queue[-1])
    counts = _netlink.NetlinkBackend().state_counts(("tcp", "udp", "unix"))
    assert counts["tcp"]["LISTEN"] == sum(1 for e in EXPECTED["tcp4"] + EXPECTED["tcp6"] if e["state"] == "LISTEN")
    assert counts["tcp"]["TIME_WAIT"] == 1
    assert counts["udp"] == dict(_common.empty_counts(("udp",))["udp"], CLOSED=2, ESTABLISHED=1)
    assert counts["unix"]["LISTENING"] == 2
    assert sum(counts["unix"].values()) == len(EXPECTED["unix"])
    assert all(s.closed for s in queue)


# -- decode_inet_rows: the compact-list speed path ---------------------------------------------


def _owner_map(records):
    """Owners for the fixture's sockets: one pid, two pids (shared over fork), or none."""
    owners = {}
    for i, rec in enumerate(sorted(r.inode for r in records if r.inode)):
        if i % 3 == 0:
            owners[rec] = 100 + i
        elif i % 3 == 1:
            owners[rec] = (7, 100 + i)
    return owners


def _is_candidate(rec):
    return rec.state == "LISTEN" if rec.proto == "tcp" else rec.remote_port == 0


@pytest.mark.parametrize(
    "name, proto",
    [("tcp4_all.bin", "tcp"), ("tcp6_all.bin", "tcp"), ("udp4_all.bin", "udp"), ("udp6_all.bin", "udp")],
)
def test_rows_decoder_equals_records_then_compact_row(name, proto):
    """decode_inet_rows gives, for every socket, exactly what decode_inet_messages + compact_row give."""
    data = _read(name)
    records, _done = _netlink.decode_inet_messages(data, proto, ifname=_ifname)
    owners = _owner_map(records)
    tally = [0] * 256
    keep = []
    rows, done, unowned = _netlink.decode_inet_rows(data, proto, owners, tally, keep, ifname=_ifname)
    assert done
    expected_rows = []
    expected_keep = []
    expected_unowned = 0
    for rec in records:
        if _is_candidate(rec):
            expected_keep.append(rec)
            continue
        pids = _owners.owner_pids(owners.get(rec.inode)) if rec.inode else ()
        if rec.inode and not pids:
            expected_unowned += 1
        expected_rows.append(_common.compact_row(rec, list(pids)))
    assert rows == expected_rows
    assert keep == expected_keep
    assert unowned == expected_unowned
    by_name = {}
    for code, n in enumerate(tally):
        if n:
            by_name[_netlink._TCP_STATE_BY_CODE[code]] = by_name.get(_netlink._TCP_STATE_BY_CODE[code], 0) + n
    expected_counts = {}
    for rec in records:
        expected_counts[rec.state] = expected_counts.get(rec.state, 0) + 1
    assert by_name == expected_counts
    # the rows parse back through the documented columns
    for row in rows:
        parsed = _common.parse_compact_row(_common.COMPACT_COLUMNS, row)
        assert parsed["proto"] == proto


def test_rows_decoder_shared_owner_text():
    data = _read("tcp4_all.bin")
    records, _done = _netlink.decode_inet_messages(data, "tcp")
    conn = [r for r in records if r.inode and r.state == "ESTABLISHED"][0]
    rows, _done, unowned = _netlink.decode_inet_rows(data, "tcp", {conn.inode: (3, 12)}, [0] * 256, [])
    row = [r for r in rows if r.split(" ")[9] == str(conn.inode)][0]
    assert row.endswith(" 3,12")
    assert unowned == sum(1 for r in records if r.inode and not _is_candidate(r)) - 1


def test_rows_decoder_chunked_equals_whole():
    data = _read("tcp6_all.bin")
    whole = _netlink.decode_inet_rows(data, "tcp", {}, [0] * 256, [], ifname=_ifname)[0]
    parts = []
    for msg in _split_messages(data):
        parts.extend(_netlink.decode_inet_rows(msg, "tcp", {}, [0] * 256, [], ifname=_ifname)[0])
    assert parts == whole


@pytest.mark.parametrize(
    "name, needle",
    [
        ("tcp6_truncated_body.bin", "truncated message"),
        ("tcp6_truncated_header.bin", "truncated message header"),
        ("tcp6_short_msg.bin", "inet_diag_msg too short"),
    ],
)
def test_rows_decoder_malformed_replies(name, needle):
    with pytest.raises(_netlink.NetlinkParseError) as exc:
        _netlink.decode_inet_rows(_read(name), "tcp", {}, [0] * 256, [])
    assert needle in str(exc.value) and f"at offset {exc.value.offset}" in str(exc.value)


def test_rows_decoder_errors_and_prefixes():
    with pytest.raises(_netlink.NetlinkError):
        _netlink.decode_inet_rows(_read("error_enoent.bin"), "tcp", {}, [0] * 256, [])
    data = bytearray(_read("tcp4_all.bin"))
    data[16] = 99
    with pytest.raises(_netlink.NetlinkParseError, match="unexpected address family 99"):
        _netlink.decode_inet_rows(bytes(data), "tcp", {}, [0] * 256, [])
    data = _read("tcp6_all.bin")
    for cut in range(len(data)):
        try:
            _netlink.decode_inet_rows(data[:cut], "tcp", {}, [0] * 256, [])
        except _common.ParseError:
            pass


def test_inet_rows_on_replayed_replies(monkeypatch):
    files = {
        ("tcp", 2): "tcp4_all.bin",
        ("tcp", 10): "tcp6_all.bin",
        ("udp", 2): "udp4_all.bin",
        ("udp", 10): "udp6_all.bin",
    }
    opened = []

    class Sock(_FakeSock):
        def sendall(self, data):
            self.sent.append(data)
            family, proto = data[16], data[17]
            self.replies = _split_messages(_read(files[({6: "tcp", 17: "udp"}[proto], family)]))

    monkeypatch.setattr(_netlink.NetlinkBackend, "_open", lambda self: opened.append(Sock([])) or opened[-1])
    rows, keep = [], []
    counts, unowned = _netlink.NetlinkBackend().inet_rows(("tcp", "udp"), ("ipv4", "ipv6"), {}, rows, keep)
    everything = []
    for (proto, _family), name in sorted(files.items()):
        everything.extend(_netlink.decode_inet_messages(_read(name), proto)[0])
    assert len(rows) + len(keep) == len(everything)
    assert sum(counts["tcp"].values()) + sum(counts["udp"].values()) == len(everything)
    assert counts["tcp"]["LISTEN"] == sum(1 for r in everything if r.proto == "tcp" and r.state == "LISTEN")
    assert unowned == sum(1 for r in everything if r.inode and not _is_candidate(r))
    assert len(opened) == 4 and all(s.closed for s in opened)


@pytest.mark.parametrize("err", [-(2 ** 31), 2 ** 31 - 1, -5000, 4096])
def test_nlmsg_error_with_an_impossible_errno_is_a_parse_error(err):
    msg = struct.pack("=IHHII", 36, 2, 0, 1, 0) + struct.pack("=i", err) + b"\0" * 16
    with pytest.raises(_netlink.NetlinkParseError, match="impossible"):
        _netlink.decode_unix_messages(msg)


def test_nlmsg_error_with_a_real_errno_is_a_netlink_error():
    msg = struct.pack("=IHHII", 36, 2, 0, 1, 0) + struct.pack("=i", -2) + b"\0" * 16
    with pytest.raises(_netlink.NetlinkError) as err:
        _netlink.decode_unix_messages(msg)
    assert err.value.errno == 2
