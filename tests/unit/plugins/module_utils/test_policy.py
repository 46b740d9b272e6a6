# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The policy engine on synthetic facts shaped per docs/facts.md."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import copy
import os

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy as P

TODAY = "2026-06-01"


def proc(name, pid=100, user="root", uid=0, exe=None):
    return {"pid": pid, "ppid": 1, "name": name, "exe": exe or "/usr/sbin/" + name, "cmdline": name, "uid": uid, "user": user}


def listener(proto, address, port, procs=None, user="root", uid=0, backlog=None, recv_q=0):
    family = "ipv6" if ":" in address else "ipv4"
    return {
        "proto": proto,
        "family": family,
        "address": address,
        "port": port,
        "state": "LISTEN" if proto == "tcp" else "CLOSED",
        "recv_q": recv_q,
        "send_q": 0,
        "backlog": backlog,
        "inode": 1000 + port,
        "uid": uid,
        "user": user,
        "exposure": "wildcard",
        "v6only": None,
        "interface": None,
        "service": None,
        "processes": list(procs or []),
    }


def conn(proto, state, laddr, lport, raddr, rport, procs=None, recv_q=0, send_q=0):
    return {
        "proto": proto,
        "family": "ipv4",
        "state": state,
        "local_address": laddr,
        "local_port": lport,
        "remote_address": raddr,
        "remote_port": rport,
        "recv_q": recv_q,
        "send_q": send_q,
        "inode": 5000 + rport,
        "uid": 0,
        "user": "root",
        "processes": list(procs or []),
    }


def counts(**tcp):
    table = {s: 0 for s in P.TCP_STATE_NAMES}
    table.update(tcp)
    return {"tcp": table, "udp": {s: 0 for s in P.TCP_STATE_NAMES}, "unix": {s: 0 for s in P.UNIX_STATE_NAMES}}


def facts(listeners=(), complete=True, reasons=(), **extra):
    out = {
        "collector": {"backend": "procfs", "complete": complete, "reasons": list(reasons), "connections": "counts"},
        "listeners": list(listeners),
        "unix": [],
        "counts": counts(),
    }
    out.update(extra)
    return out


SSHD = proc("sshd", 812)
NGINX = [proc("nginx", 900), proc("nginx", 901, user="www-data", uid=33)]


def rules(result, waived=False):
    return [(f["rule"], f["subject"]) for f in result["findings"] if (f["waived"] is not None) == waived]


def run(fx, policy, **kw):
    kw.setdefault("today", TODAY)
    return P.evaluate(fx, policy, **kw)


# ---------------------------------------------------------------- module hygiene


ENGINE_FILES = ("_policy.py", "_policy_base.py", "_policy_entry.py", "_policy_compose.py", "_policy_facts.py",
                "_policy_findings.py", "_policy_listeners.py", "_policy_states.py", "_policy_egress.py", "_policy_unix.py",
                "_policy_completeness.py", "_policy_waivers.py", "_scope.py", "_common.py")


@pytest.mark.parametrize("name", ENGINE_FILES)
def test_engine_has_no_ansible_imports_and_sanity_header(name):
    """The engine (every file of it) imports nothing of Ansible, YAML or jsonschema: only the
    standard library and its own files."""
    path = os.path.join(os.path.dirname(P.__file__), name)
    src = open(path).read()
    tree = ast.parse(src)
    own = "ansible_collections.netaudit.netstat.plugins.module_utils"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert all(not a.name.startswith(("ansible", "yaml", "jsonschema")) for a in node.names)
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module == own:
                assert all(a.name in [f[:-3] for f in ENGINE_FILES] for a in node.names), module
                continue
            if module.startswith(own + "."):
                assert module[len(own) + 1:] + ".py" in ENGINE_FILES, module
                continue
            assert not module.startswith(("ansible", "yaml", "jsonschema")), module
    assert "from __future__ import absolute_import, division, print_function" in src
    assert "__metaclass__ = type" in src
    assert "GNU General Public License v3.0+" in "".join(src.splitlines()[:4])


# ---------------------------------------------------------------- listeners


def test_closed_world_unexpected_listener():
    fx = facts([listener("tcp", "0.0.0.0", 22, [SSHD]), listener("tcp", "0.0.0.0", 8080, [proc("python3", 4242, "app", 1000)])])
    pol = {"listeners": {"default": "deny", "allow": [{"proto": "tcp", "port": 22, "program": "sshd"}]}}
    r = run(fx, pol)
    assert rules(r) == [("unexpected-listener", "tcp 0.0.0.0:8080")]
    f = r["findings"][0]
    assert f["severity"] == "error"
    assert f["actual"] == "listening: python3 (pid 4242, user app)"
    assert "no allow rule matches" in f["message"]
    assert r["compliant"] is False
    assert r["counts"] == {"error": 1, "warning": 0, "info": 0}


def test_open_world_allows_unlisted():
    fx = facts([listener("tcp", "0.0.0.0", 8080, [proc("python3")])])
    r = run(fx, {"listeners": {"default": "allow"}})
    assert r["findings"] == [] and r["compliant"] is True
    assert r["summary"].startswith("compliant")


def test_empty_policy_is_allow_all():
    r = run(facts([listener("tcp", "0.0.0.0", 1, [proc("x")])]), {})
    assert r["compliant"] and not r["findings"]


def test_forbidden_listener_with_reason():
    fx = facts([listener("tcp", "0.0.0.0", 23, [proc("inetd", 5)])])
    pol = {"listeners": {"deny": [{"proto": "tcp", "port": "telnet", "reason": "telnet is never allowed"}]}}
    r = run(fx, pol)
    assert rules(r) == [("forbidden-listener", "tcp 0.0.0.0:23")]
    assert "telnet is never allowed" in r["findings"][0]["message"]
    assert "inetd" in r["findings"][0]["message"]


def test_deny_beats_allow_in_same_policy_but_later_policy_wins():
    fx = facts([listener("tcp", "0.0.0.0", 21, [proc("vsftpd")])])
    base = {"listeners": {"allow": [{"port": 21}], "deny": [{"port": "ftp"}]}}
    assert rules(run(fx, base)) == [("forbidden-listener", "tcp 0.0.0.0:21")]
    host = {"listeners": {"allow": [{"port": 21, "program": "vsftpd"}]}}
    assert rules(run(fx, [base, host])) == []
    # and the other way round: a later deny overrides an earlier allow
    assert rules(run(fx, [host, {"listeners": {"deny": [{"port": 21}]}}])) == [("forbidden-listener", "tcp 0.0.0.0:21")]


def test_missing_listener_per_port():
    fx = facts([listener("tcp", "0.0.0.0", 80, NGINX)])
    pol = {"listeners": {"default": "deny", "allow": [{"proto": "tcp", "port": [80, 443], "program": "nginx", "required": True}]}}
    r = run(fx, pol)
    assert rules(r) == [("missing-listener", "tcp port 443")]
    assert r["findings"][0]["actual"] == "not listening"


def test_required_range_satisfied_by_any_port_in_it():
    fx = facts([listener("tcp", "127.0.0.1", 8005, [proc("gunicorn")])])
    pol = {"listeners": {"allow": [{"port": "8000-8099", "required": True}]}}
    assert rules(run(fx, pol)) == []
    assert rules(run(facts([]), pol)) == [("missing-listener", "tcp/udp port 8000-8099")]


def test_required_program_without_port():
    pol = {"listeners": {"allow": [{"program": "sshd", "required": True}]}}
    assert rules(run(facts([listener("tcp", "0.0.0.0", 2222, [SSHD])]), pol)) == []
    assert [r[0] for r in rules(run(facts([]), pol))] == ["missing-listener"]


def test_wrong_bind():
    fx = facts([listener("tcp", "0.0.0.0", 6379, [proc("redis-server", 77, "redis", 110)])])
    pol = {"listeners": {"default": "deny", "allow": [{"proto": "tcp", "port": "redis", "bind": "loopback", "required": True}]}}
    r = run(fx, pol)
    assert rules(r) == [("wrong-bind", "tcp 0.0.0.0:6379")]  # no extra missing-listener
    f = r["findings"][0]
    assert f["expected"] == "bind loopback"
    assert f["actual"] == "0.0.0.0 (wildcard)"


def test_wrong_owner_and_wrong_user():
    fx = facts([listener("tcp", "0.0.0.0", 80, [proc("python3", 4, "app", 1000)], user="app", uid=1000)])
    pol = {"listeners": {"allow": [{"port": 80, "program": "nginx", "user": "root"}]}}
    r = run(fx, pol)
    assert sorted(rules(r)) == [("wrong-owner", "tcp 0.0.0.0:80"), ("wrong-user", "tcp 0.0.0.0:80")]
    owner = [f for f in r["findings"] if f["rule"] == "wrong-owner"][0]
    assert owner["expected"] == "program nginx" and owner["actual"] == "python3"


def test_unknown_owner_is_never_silently_compliant():
    fx = facts([listener("tcp", "0.0.0.0", 80, [])], complete=False, reasons=["not root"])
    pol = {"listeners": {"allow": [{"port": 80, "program": "nginx"}]}}
    r = run(fx, pol)
    # older facts (no per-socket cause): the socket without an owner is the finding, not drift
    assert sorted(rules(r)) == [("incomplete-facts", "tcp 0.0.0.0:80")]
    owner = r["findings"][0]
    assert owner["actual"] == "owner unknown: not root"
    assert owner["severity"] == "error"
    assert owner["cause"] == "unknown" and owner["port"] == 80 and owner["proto"] == "tcp"
    assert r["verdict"] == "incomplete" and r["compliant"] is False
    # even when the policy ignores incomplete facts, the unknown owner stays visible (info)
    pol["completeness"] = {"severity": "ignore"}
    r = run(fx, pol)
    assert rules(r) == [("incomplete-facts", "tcp 0.0.0.0:80")]
    assert r["findings"][0]["severity"] == "info"
    assert r["verdict"] == "compliant"


def test_program_matches_name_exe_and_glob():
    p = proc("php-fpm8.2", exe="/usr/sbin/php-fpm8.2")
    fx = facts([listener("tcp", "127.0.0.1", 9000, [p])])
    for prog in ("php-fpm*", "/usr/sbin/*", "php-fpm8.2", ["nginx", "php-fpm?.?"]):
        pol = {"listeners": {"default": "deny", "allow": [{"port": 9000, "program": prog}]}}
        assert rules(run(fx, pol)) == [], prog
    pol = {"listeners": {"default": "deny", "allow": [{"port": 9000, "program": "/opt/*"}]}}
    assert rules(run(fx, pol)) == [("wrong-owner", "tcp 127.0.0.1:9000")]


def test_user_matches_socket_or_process_user():
    fx = facts([listener("tcp", "0.0.0.0", 80, NGINX)])
    for user in ("root", "www-data", 33, "www-*"):
        pol = {"listeners": {"allow": [{"port": 80, "user": user}]}}
        assert rules(run(fx, pol)) == [], user


@pytest.mark.parametrize(
    "bind,address,ok",
    [
        ("any", "0.0.0.0", True),
        ("wildcard", "::", True),
        ("any", "127.0.0.1", False),
        ("loopback", "127.0.0.53", True),
        ("loopback", "::1", True),
        ("loopback", "::ffff:127.0.0.1", True),
        ("loopback", "0.0.0.0", False),
        ("10.1.2.3", "10.1.2.3", True),
        ("10.1.2.3", "10.1.2.4", False),
        ("10.0.0.0/8", "10.9.9.9", True),
        ("10.0.0.0/8", "192.168.1.1", False),
        ("fe80::/10", "fe80::1%eth0", True),
        ("private", "192.168.1.5", True),
        ("public", "8.8.8.8", True),
        ("public", "10.0.0.1", False),
        (["loopback", "10.0.0.0/8"], "10.0.0.1", True),
    ],
)
def test_bind_matchers(bind, address, ok):
    fx = facts([listener("tcp", address, 5000, [proc("svc")])])
    pol = {"listeners": {"default": "deny", "allow": [{"port": 5000, "bind": bind}]}}
    assert (rules(run(fx, pol)) == []) is ok


@pytest.mark.parametrize(
    "spec,port,ok",
    [
        (22, 22, True),
        ("22", 22, True),
        ([80, 443], 443, True),
        ("8000-8100", 8050, True),
        ("8000-8100", 8101, False),
        ("ssh", 22, True),
        ("https", 443, True),
        (["http", "9000-9001"], 9001, True),
        ("myapp", 7777, True),
    ],
)
def test_port_matchers(spec, port, ok):
    fx = facts([listener("tcp", "0.0.0.0", port, [proc("svc")])])
    pol = {"services": {"myapp": 7777}, "listeners": {"default": "deny", "allow": [{"port": spec}]}}
    assert (rules(run(fx, pol)) == []) is ok


def test_proto_and_family_matchers():
    fx = facts([listener("udp", "0.0.0.0", 53, [proc("dnsmasq")]), listener("tcp", "::", 53, [proc("dnsmasq")])])
    pol = {"listeners": {"default": "deny", "allow": [{"proto": "udp", "port": 53}]}}
    assert rules(run(fx, pol)) == [("unexpected-listener", "tcp [::]:53")]
    pol = {"listeners": {"default": "deny", "allow": [{"proto": "any", "port": 53, "family": "ipv4"}]}}
    assert rules(run(fx, pol)) == [("unexpected-listener", "tcp [::]:53")]


def test_parse_ports_errors():
    for bad in ("80-70", 0, 70000, "nosuchservice", True, "1-99999"):
        with pytest.raises(P.PolicyEvalError):
            P.parse_ports(bad)
    assert P.parse_ports(["ssh", 22, "1-3"]) == [(1, 3), (22, 22)]


def test_bad_inline_value_raises_eval_error():
    with pytest.raises(P.PolicyEvalError, match="bind"):
        run(facts([listener("tcp", "0.0.0.0", 1)]), {"listeners": {"allow": [{"port": 1, "bind": "nowhere"}]}})


# ---------------------------------------------------------------- composition


def test_merge_named_entries_replace_and_disable():
    base = {
        "policy": "base",
        "listeners": {
            "default": "deny",
            "allow": [{"name": "web", "port": 80, "program": "nginx"}],
            "deny": [{"name": "ftp", "port": 21}],
        },
    }
    host = {
        "policy": "host",
        "listeners": {"allow": [{"name": "web", "port": 80, "program": "apache2"}], "deny": [{"name": "ftp", "enabled": False}]},
    }
    fx = facts([listener("tcp", "0.0.0.0", 80, [proc("apache2")]), listener("tcp", "0.0.0.0", 21, [proc("ftpd")])])
    r = run(fx, [base, host])
    assert rules(r) == [("unexpected-listener", "tcp 0.0.0.0:21")]
    assert r["policies"] == ["base", "host"]


def test_merge_later_default_and_states_refine():
    base = {"listeners": {"default": "deny"}, "states": {"tcp": {"TIME_WAIT": {"max": 10}, "CLOSE_WAIT": {"max": 1}}}}
    host = {"listeners": {"default": "allow"}, "states": {"tcp": {"TIME_WAIT": {"max": 1000}}}}
    fx = facts([listener("tcp", "0.0.0.0", 1, [proc("x")])], counts=counts(TIME_WAIT=500, CLOSE_WAIT=5))
    assert rules(run(fx, [base, host])) == [("state-threshold", "tcp CLOSE_WAIT")]
    assert sorted(rules(run(fx, base))) == [
        ("state-threshold", "tcp CLOSE_WAIT"),
        ("state-threshold", "tcp TIME_WAIT"),
        ("unexpected-listener", "tcp 0.0.0.0:1"),
    ]


def test_merge_is_idempotent_and_does_not_mutate():
    pol = {"listeners": {"allow": [{"port": 1}]}}
    before = copy.deepcopy(pol)
    m = P.merge_policies([pol])
    assert P.merge_policies(m) is m
    assert pol == before


# ---------------------------------------------------------------- states


def test_state_max_min_and_severity():
    fx = facts([], counts=counts(TIME_WAIT=30000, ESTABLISHED=0, SYN_RECV=300))
    pol = {
        "states": {
            "tcp": {
                "TIME_WAIT": {"max": 20000},
                "ESTABLISHED": {"min": 1, "severity": "error"},
                "SYN_RECV": {"max": 256, "severity": "info"},
            }
        }
    }
    r = run(fx, pol)
    got = {(f["subject"], f["severity"], f["expected"], f["actual"]) for f in r["findings"]}
    assert got == {
        ("tcp TIME_WAIT", "warning", "at most 20000", "30000"),
        ("tcp ESTABLISHED", "error", "at least 1", "0"),
        ("tcp SYN_RECV", "info", "at most 256", "300"),
    }


def test_state_uses_sample_max():
    fx = facts([], counts=counts(TIME_WAIT=5), counts_stats={"tcp": {"TIME_WAIT": {"min": 1, "max": 50, "last": 5}}})
    r = run(fx, {"states": {"tcp": {"TIME_WAIT": {"max": 10}}}})
    assert r["findings"][0]["actual"] == "50"


def test_scoped_state_limit_full_and_compact_connections():
    app = proc("java", 300, "app", 1000)
    conns = [conn("tcp", "CLOSE_WAIT", "10.0.0.1", 8080, "10.0.0.9", 40000 + i, [app]) for i in range(4)]
    conns.append(conn("tcp", "CLOSE_WAIT", "10.0.0.1", 50000, "10.0.0.9", 443, [proc("curl", 9)]))
    pol = {"states": {"tcp": {"CLOSE_WAIT": [{"max": 3, "port": 8080, "program": "java"}]}}}
    full = facts([listener("tcp", "0.0.0.0", 8080, [app])], connections=conns)
    r = run(full, pol)
    assert rules(r) == [("state-threshold", "tcp CLOSE_WAIT port 8080 program java")]
    assert r["findings"][0]["actual"] == "4"
    cols = [
        "proto",
        "family",
        "state",
        "local_address",
        "local_port",
        "remote_address",
        "remote_port",
        "recv_q",
        "send_q",
        "inode",
        "uid",
        "pids",
    ]
    rows = [[c[k] for k in cols[:-1]] + [[p["pid"] for p in c["processes"]]] for c in conns]
    compact = facts(
        [listener("tcp", "0.0.0.0", 8080, [app])],
        connections={"columns": cols, "rows": rows},
        processes={"300": app, "9": proc("curl", 9)},
    )
    assert run(compact, pol)["findings"] == r["findings"]

    # the module writes each compact row as one string
    def text(v):
        if isinstance(v, list):
            return ",".join(str(p) for p in v) or "-"
        return "-" if v is None else str(v)

    str_rows = [" ".join(text(v) for v in row) for row in rows]
    as_text = facts(
        [listener("tcp", "0.0.0.0", 8080, [app])],
        connections={"columns": cols, "rows": str_rows},
        processes={"300": app, "9": proc("curl", 9)},
    )
    assert run(as_text, pol)["findings"] == r["findings"]
    # ... and the whole list as one text block, a line per socket
    block = facts(
        [listener("tcp", "0.0.0.0", 8080, [app])],
        connections={"columns": cols, "rows": "\n".join(str_rows), "count": len(str_rows)},
        processes={"300": app, "9": proc("curl", 9)},
    )
    assert run(block, pol)["findings"] == r["findings"]


def test_scoped_state_without_connections_is_incomplete():
    r = run(facts([]), {"states": {"tcp": {"CLOSE_WAIT": {"max": 3, "port": 8080}}}})
    assert [f["rule"] for f in r["findings"]] == ["incomplete-facts"]
    assert "connections: compact" in r["findings"][0]["message"]


def test_connections_mode_needed():
    assert P.connections_mode_needed({"states": {"tcp": {"TIME_WAIT": {"max": 1}}}}) is None
    assert P.connections_mode_needed({"states": {"tcp": {"TIME_WAIT": {"max": 1, "port": 80}}}}) == "compact"
    assert P.connections_mode_needed({"queues": {"listen_fill": {"max": 0.5}}}) is None
    assert P.connections_mode_needed({"queues": {"recv_q": {"max": 5}}}) == "compact"
    assert P.connections_mode_needed([{}, {"egress": {"default": "deny"}}]) == "compact"


# ---------------------------------------------------------------- queues


def test_listen_fill():
    fx = facts(
        [
            listener("tcp", "0.0.0.0", 80, NGINX, backlog=100, recv_q=95),
            listener("tcp", "0.0.0.0", 81, NGINX, backlog=None, recv_q=95),
            listener("tcp", "0.0.0.0", 82, NGINX, backlog=100, recv_q=10),
        ]
    )
    r = run(fx, {"queues": {"listen_fill": {"max": 0.8}}})
    assert rules(r) == [("queue-threshold", "tcp 0.0.0.0:80 accept queue")]
    assert r["findings"][0]["actual"] == "95 of 100 (95%)"


def test_recv_q_send_q_on_established():
    app = proc("app", 1)
    conns = [
        conn("tcp", "ESTABLISHED", "10.0.0.1", 5432, "10.0.0.2", 40001, [app], recv_q=5000),
        conn("tcp", "ESTABLISHED", "10.0.0.1", 5432, "10.0.0.3", 40002, [app], recv_q=9000),
        conn("tcp", "ESTABLISHED", "10.0.0.1", 41000, "10.0.0.4", 443, [app], send_q=70000),
        conn("tcp", "CLOSE_WAIT", "10.0.0.1", 5432, "10.0.0.5", 40003, [app], recv_q=99999),
    ]
    fx = facts([listener("tcp", "0.0.0.0", 5432, [app])], connections=conns)
    r = run(fx, {"queues": {"recv_q": {"max": 4096}, "send_q": {"max": 65536, "severity": "error"}}})
    assert rules(r) == [("queue-threshold", "tcp outbound send_q (app)"), ("queue-threshold", "tcp port 5432 recv_q (app)")]
    rq = r["findings"][1]
    assert rq["actual"].startswith("2 connection(s) over, worst 9000")


# ---------------------------------------------------------------- egress


def test_egress_forbidden_and_unexpected_peers():
    curl = proc("curl", 50, "app", 1000)
    conns = [
        conn("tcp", "ESTABLISHED", "10.0.0.1", 41000, "169.254.169.254", 80, [curl]),
        conn("tcp", "ESTABLISHED", "10.0.0.1", 41001, "203.0.113.7", 443, [curl]),
        conn("tcp", "ESTABLISHED", "10.0.0.1", 41002, "203.0.113.7", 443, [curl]),
        conn("tcp", "ESTABLISHED", "10.0.0.1", 41003, "10.2.3.4", 5432, [curl]),
        conn("tcp", "ESTABLISHED", "127.0.0.1", 41004, "127.0.0.1", 6379, [curl]),
        conn("tcp", "ESTABLISHED", "10.0.0.1", 22, "198.51.100.1", 50000, [SSHD]),  # inbound
        conn("tcp", "TIME_WAIT", "10.0.0.1", 41005, "198.51.100.2", 25, []),
    ]
    fx = facts([listener("tcp", "0.0.0.0", 22, [SSHD])], connections=conns)
    pol = {
        "egress": {
            "default": "deny",
            "allow": [{"cidr": "10.0.0.0/8"}],
            "deny": [{"cidr": "169.254.169.254/32", "reason": "metadata"}],
        }
    }
    r = run(fx, pol)
    assert rules(r) == [("forbidden-peer", "tcp -> 169.254.169.254:80"), ("unexpected-peer", "tcp -> 203.0.113.7:443")]
    assert r["findings"][1]["actual"].startswith("2 connection(s) from curl")
    assert r["findings"][0]["severity"] == "error" and r["findings"][1]["severity"] == "warning"


def test_egress_port_and_program_matchers():
    conns = [
        conn("tcp", "ESTABLISHED", "10.0.0.1", 41000, "8.8.8.8", 53, [proc("systemd-resolved")]),
        conn("tcp", "ESTABLISHED", "10.0.0.1", 41001, "8.8.8.8", 443, [proc("wget")]),
    ]
    fx = facts([], connections=conns)
    pol = {"egress": {"default": "deny", "allow": [{"port": "domain", "program": "systemd-resolve*"}]}}
    assert rules(run(fx, pol)) == [("unexpected-peer", "tcp -> 8.8.8.8:443")]


def test_egress_without_connections():
    r = run(facts([]), {"egress": {"deny": [{"cidr": "0.0.0.0/0"}]}})
    assert rules(r) == [("incomplete-facts", "egress")]


# ---------------------------------------------------------------- unix


def unix(path, mode=None, state="LISTENING", procs=None, type_="stream"):
    return {
        "type": type_,
        "state": state,
        "flags": ["ACC"] if state == "LISTENING" else [],
        "refcnt": 2,
        "inode": hash(path) % 100000,
        "path": path,
        "abstract": bool(path and path.startswith("@")),
        "peer": None,
        "recv_q": None,
        "send_q": None,
        "mode": mode,
        "file_uid": 0,
        "processes": list(procs or []),
    }


def test_unix_rules():
    socks = [
        unix("/run/docker.sock", "0666", procs=[proc("dockerd", 5)]),
        unix("/run/docker.sock", "0666", state="CONNECTED", procs=[proc("dockerd", 5)]),
        unix("/run/dbus/system_bus_socket", "0666", procs=[proc("dbus-daemon", 6)]),
        unix("/run/app/app.sock", "0777", procs=[proc("app", 7)]),
        unix("@/tmp/.X11-unix/X0", None, procs=[proc("Xorg", 8)]),
        unix(None, None, state="CONNECTED"),
    ]
    fx = facts([], unix=socks)
    pol = {
        "unix": {
            "default": "deny",
            "allow": [{"path": "/run/dbus/*"}, {"path": "/run/app/*"}, {"path": "/run/docker.sock"}],
            "deny": [{"path": "/run/docker.sock", "world_writable": True, "reason": "root"}],
            "world_writable": {"severity": "warning", "allow": ["/run/dbus/*"]},
        }
    }
    r = run(fx, pol)
    assert rules(r) == [
        ("forbidden-unix-socket", "unix /run/docker.sock"),
        ("unexpected-unix-socket", "unix @/tmp/.X11-unix/X0"),
        ("world-writable-unix-socket", "unix /run/app/app.sock"),
    ]
    pol["unix"]["allow"].append({"path": "@*"})
    pol["unix"]["world_writable"]["severity"] = "ignore"
    assert rules(run(fx, pol)) == [("forbidden-unix-socket", "unix /run/docker.sock")]


def test_unix_world_writable_allowed_by_entry():
    fx = facts([], unix=[unix("/run/x.sock", "0777")])
    assert rules(run(fx, {})) == [("world-writable-unix-socket", "unix /run/x.sock")]
    assert rules(run(fx, {"unix": {"allow": [{"path": "/run/x.sock", "world_writable": True}]}})) == []
    assert rules(run(facts([], unix=[unix("/run/x.sock", "0660")]), {})) == []


# ---------------------------------------------------------------- completeness


def test_incomplete_facts_severity_levels():
    fx = facts([], complete=False, reasons=["not root: owners of 3 sockets unknown"])
    r = run(fx, {})
    assert rules(r) == [("incomplete-facts", "collector")]
    assert r["findings"][0]["severity"] == "error"
    assert "not root" in r["findings"][0]["actual"]
    assert run(fx, {"completeness": {"severity": "warning"}})["findings"][0]["severity"] == "warning"
    assert run(fx, {"completeness": {"severity": "ignore"}})["findings"] == []
    assert run(fx, {}, incomplete_severity="info")["findings"][0]["severity"] == "info"


def test_missing_facts():
    r = run({}, {})
    assert rules(r) == [("incomplete-facts", "facts")] and not r["compliant"]
    # the whole ansible_facts dict is accepted too
    r = run({"netstat": facts([])}, {})
    assert r["findings"] == []


# ---------------------------------------------------------------- waivers


def test_active_waiver_waives_and_expired_waiver_is_a_finding():
    fx = facts([listener("tcp", "0.0.0.0", 8080, [proc("python3")]), listener("tcp", "0.0.0.0", 9090, [proc("python3")])])
    pol = {
        "listeners": {"default": "deny"},
        "waivers": [
            {
                "rule": "unexpected-listener",
                "match": {"proto": "tcp", "port": 8080},
                "reason": "TICKET-42",
                "expires": "2026-12-31",
            },
            {"rule": "unexpected-listener", "match": {"port": 9090}, "reason": "TICKET-7", "expires": "2026-01-01"},
        ],
    }
    r = run(fx, pol)
    assert rules(r) == [("unexpected-listener", "tcp 0.0.0.0:9090"), ("expired-waiver", "waiver unexpected-listener port=9090")]
    assert rules(r, waived=True) == [("unexpected-listener", "tcp 0.0.0.0:8080")]
    waived = [f for f in r["findings"] if f["waived"]][0]
    assert waived["waived"]["reason"] == "TICKET-42" and waived["waived"]["expires"] == "2026-12-31"
    assert r["waived"] == 1
    assert r["counts"] == {"error": 1, "warning": 1, "info": 0}
    # the expiry day itself is still covered
    r = run(fx, pol, today="2026-01-01")
    assert rules(r, waived=True) == [("unexpected-listener", "tcp 0.0.0.0:8080"), ("unexpected-listener", "tcp 0.0.0.0:9090")]


def test_waiver_makes_host_compliant_and_unused_waiver_is_info():
    fx = facts([listener("tcp", "0.0.0.0", 8080, [proc("python3")])])
    pol = {
        "listeners": {"default": "deny"},
        "waivers": [
            {"rule": "*", "match": {"program": "python*", "subject": "tcp *:8080"}, "reason": "x", "expires": "2030-01-01"},
            {"rule": "wrong-bind", "match": {"port": 1}, "reason": "gone", "expires": "2030-01-01"},
        ],
    }
    r = run(fx, pol)
    assert r["compliant"] is True
    assert rules(r) == [("unused-waiver", "waiver wrong-bind port=1")]
    assert r["findings"][0]["severity"] == "info"


@pytest.mark.parametrize(
    "match,hit",
    [
        ({"bind": "any"}, True),
        ({"bind": "loopback"}, False),
        ({"user": "app"}, True),
        ({"user": "root"}, False),
        ({"address": "0.0.0.0/32"}, True),
        ({"proto": "udp"}, False),
        ({"port": "8000-8100"}, True),
        ({"nope": 1}, False),
    ],
)
def test_waiver_match_keys(match, hit):
    fx = facts([listener("tcp", "0.0.0.0", 8080, [proc("python3", 1, "app", 1000)], user="app", uid=1000)])
    pol = {
        "listeners": {"default": "deny"},
        "waivers": [{"rule": "unexpected-listener", "match": match, "reason": "r", "expires": "2030-01-01"}],
    }
    assert bool(rules(run(fx, pol), waived=True)) is hit


# ---------------------------------------------------------------- output shape


def test_finding_shape_sources_and_deterministic_order():
    src = {"__source__": "policies/web.yml:3", "__key_sources__": {"default": "policies/web.yml:4"}}
    pol = {
        "listeners": dict(
            src,
            default="deny",
            allow=[{"port": 22, "program": "sshd", "__source__": "policies/web.yml:6"}],
            deny=[{"port": 23, "__source__": "policies/web.yml:8"}],
        )
    }
    ls = [listener("tcp", "0.0.0.0", p, [proc("svc")]) for p in (23, 9000, 100, 22, 8080)]
    r = run(facts(ls), pol)
    keys = {"rule", "severity", "subject", "expected", "actual", "message", "source", "waived"} | set(P.FINDING_FIELDS)
    assert all(set(f) == keys for f in r["findings"])
    assert [(f["rule"], f["subject"], f["source"]) for f in r["findings"]] == [
        ("forbidden-listener", "tcp 0.0.0.0:23", "policies/web.yml:8"),
        ("unexpected-listener", "tcp 0.0.0.0:100", "policies/web.yml:4"),
        ("unexpected-listener", "tcp 0.0.0.0:8080", "policies/web.yml:4"),
        ("unexpected-listener", "tcp 0.0.0.0:9000", "policies/web.yml:4"),
        ("wrong-owner", "tcp 0.0.0.0:22", "policies/web.yml:6"),
    ]
    ls.reverse()
    assert run(facts(ls), pol) == r


def test_severities_override_and_ignore():
    fx = facts([listener("tcp", "0.0.0.0", 1, [proc("x")])])
    pol = {"listeners": {"default": "deny"}, "severities": {"unexpected-listener": "warning"}}
    r = run(fx, pol)
    assert r["findings"][0]["severity"] == "warning" and r["compliant"] is True
    pol["severities"]["unexpected-listener"] = "ignore"
    assert run(fx, pol)["findings"] == []


def test_fails():
    res = {"counts": {"error": 0, "warning": 1, "info": 3}}
    assert not P.fails(res, "error") and P.fails(res, "warning") and not P.fails(res, "never")
    assert P.fails(res, "info")
    with pytest.raises(P.PolicyEvalError):
        P.fails(res, "bogus")


def test_egress_findings_are_capped():
    conns = [
        conn("tcp", "ESTABLISHED", "10.0.0.1", 40000 + i, "203.0.113.%d" % (i % 250 + 1), 1000 + i, [proc("x")])
        for i in range(300)
    ]
    r = run(facts([], connections=conns), {"egress": {"default": "deny"}})
    subjects = [f["subject"] for f in r["findings"]]
    assert len(subjects) == P.MAX_PEER_FINDINGS + 1
    assert subjects[-1] == "200 more peers"
    assert r["findings"][-1]["actual"] == "200 more remote endpoints, 300 connection(s) in all"
