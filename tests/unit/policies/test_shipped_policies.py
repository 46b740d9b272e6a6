# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The policies shipped in policies/: they load, validate, and say something sensible."""

import glob
import os

import pytest
import yaml

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy as P
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _policy_loader as L

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, os.pardir))
POLICIES = os.path.join(REPO, "policies")
SHIPPED = sorted(glob.glob(os.path.join(POLICIES, "*.yml")) + glob.glob(os.path.join(POLICIES, "examples", "*.yml")))
TODAY = "2026-06-01"


def proc(name, pid, user="root"):
    return {"pid": pid, "ppid": 1, "name": name, "exe": "/usr/sbin/" + name, "cmdline": name, "uid": 0, "user": user}


def lst(proto, address, port, name, pid, user="root"):
    return {
        "proto": proto,
        "family": "ipv6" if ":" in address else "ipv4",
        "address": address,
        "port": port,
        "state": "LISTEN" if proto == "tcp" else "CLOSED",
        "recv_q": 0,
        "send_q": 0,
        "backlog": 128,
        "inode": port,
        "uid": 0,
        "user": user,
        "processes": [proc(name, pid, user)],
    }


def host(*listeners, **extra):
    counts = {
        "tcp": {s: 0 for s in P.TCP_STATE_NAMES},
        "udp": {s: 0 for s in P.TCP_STATE_NAMES},
        "unix": {s: 0 for s in P.UNIX_STATE_NAMES},
    }
    facts = {
        "collector": {"complete": True, "reasons": [], "is_root": True, "connections": "compact"},
        "listeners": list(listeners),
        "counts": counts,
        "connections": {
            "columns": [
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
            ],
            "rows": [],
        },
        "processes": {},
        "unix": [
            {
                "type": "stream",
                "state": "LISTENING",
                "path": "/run/dbus/system_bus_socket",
                "abstract": False,
                "mode": "0666",
                "processes": [proc("dbus-daemon", 5, "messagebus")],
            },
            {
                "type": "dgram",
                "state": "UNCONNECTED",
                "path": "/run/systemd/notify",
                "abstract": False,
                "mode": "0777",
                "processes": [proc("systemd", 1)],
            },
        ],
    }
    facts.update(extra)
    return facts


BASE_HOST = [
    lst("tcp", "0.0.0.0", 22, "sshd", 700),
    lst("tcp", "::", 22, "sshd", 700),
    lst("udp", "127.0.0.1", 323, "chronyd", 600, "_chrony"),
    lst("tcp", "127.0.0.53", 53, "systemd-resolve", 500),
    lst("udp", "127.0.0.53", 53, "systemd-resolve", 500),
]


def test_there_are_policies():
    names = [os.path.relpath(p, POLICIES) for p in SHIPPED]
    assert "default.yml" in names
    for ex in ("webserver", "database", "bastion"):
        assert os.path.join("examples", ex + ".yml") in names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: os.path.relpath(p, POLICIES))
def test_shipped_policy_loads_and_is_commented(path):
    loaded = L.load_policies(path)
    assert loaded.layers and os.path.basename(loaded.files[-1]) == os.path.basename(path)
    with open(path) as f:
        text = f.read()
    assert text.lstrip().startswith("#"), "each shipped policy starts with a comment saying what it is for"
    assert sum(1 for line in text.splitlines() if line.strip().startswith("#")) >= 3
    assert isinstance(yaml.safe_load(text), dict)
    # it evaluates without errors on an empty host and on a typical one
    P.evaluate(host(), loaded.layers, today=TODAY)
    P.evaluate(host(*BASE_HOST), loaded.layers, today=TODAY)


def test_default_policy_is_quiet_on_a_typical_server():
    loaded = L.load_policies(os.path.join(POLICIES, "default.yml"))
    web = [
        lst("tcp", "0.0.0.0", 80, "nginx", 900),
        lst("tcp", "0.0.0.0", 8080, "java", 901),
        lst("tcp", "127.0.0.1", 6379, "redis-server", 902, "redis"),
        lst("tcp", "127.0.0.1", 111, "rpcbind", 903),
    ]
    r = P.evaluate(host(*(BASE_HOST + web)), loaded.layers, today=TODAY)
    assert r["findings"] == [] and r["compliant"]
    assert P.connections_mode_needed(loaded.layers) is None


@pytest.mark.parametrize(
    "listener,rule,severity",
    [
        (lst("tcp", "0.0.0.0", 23, "in.telnetd", 1), "forbidden-listener", "error"),
        (lst("tcp", "0.0.0.0", 513, "rlogind", 1), "forbidden-listener", "error"),
        (lst("tcp", "::", 21, "vsftpd", 1), "forbidden-listener", "error"),
        (lst("udp", "0.0.0.0", 69, "in.tftpd", 1), "forbidden-listener", "error"),
        (lst("tcp", "0.0.0.0", 111, "rpcbind", 1), "forbidden-listener", "error"),
        (lst("tcp", "0.0.0.0", 2375, "dockerd", 1), "forbidden-listener", "error"),
        (lst("tcp", "0.0.0.0", 6000, "Xorg", 1), "forbidden-listener", "error"),
        (lst("tcp", "0.0.0.0", 6379, "redis-server", 1), "forbidden-listener", "warning"),
        (lst("udp", "0.0.0.0", 11211, "memcached", 1), "forbidden-listener", "error"),
    ],
)
def test_default_policy_flags_risky_services(listener, rule, severity):
    loaded = L.load_policies(os.path.join(POLICIES, "default.yml"))
    r = P.evaluate(host(*(BASE_HOST + [listener])), loaded.layers, today=TODAY)
    assert [(f["rule"], f["severity"]) for f in r["findings"]] == [(rule, severity)]
    assert r["findings"][0]["source"].startswith("netaudit.netstat/default.yml:")
    assert r["findings"][0]["message"]


def test_bundled_prefix_names_shipped_policies():
    loaded = L.load_policies(["netaudit.netstat/examples/bastion.yml"])
    assert loaded.files == ["netaudit.netstat/default.yml", "netaudit.netstat/examples/bastion.yml"]


def test_default_policy_udp_syslog_is_not_rsh():
    loaded = L.load_policies(os.path.join(POLICIES, "default.yml"))
    r = P.evaluate(host(lst("udp", "0.0.0.0", 514, "rsyslogd", 1)), loaded.layers, today=TODAY)
    assert r["findings"] == []


def test_default_policy_world_writable_and_docker_socket():
    loaded = L.load_policies(os.path.join(POLICIES, "default.yml"))
    facts = host(*BASE_HOST)
    facts["unix"] += [
        {"type": "stream", "state": "LISTENING", "path": "/run/docker.sock", "mode": "0666", "processes": [proc("dockerd", 9)]},
        {"type": "stream", "state": "LISTENING", "path": "/srv/app/app.sock", "mode": "0777", "processes": [proc("app", 10)]},
    ]
    r = P.evaluate(facts, loaded.layers, today=TODAY)
    assert [(f["rule"], f["subject"], f["severity"]) for f in r["findings"]] == [
        ("forbidden-unix-socket", "unix /run/docker.sock", "error"),
        ("world-writable-unix-socket", "unix /srv/app/app.sock", "warning"),
    ]


def test_default_policy_state_limits_and_incomplete_facts():
    loaded = L.load_policies(os.path.join(POLICIES, "default.yml"))
    facts = host(*BASE_HOST)
    facts["counts"]["tcp"]["CLOSE_WAIT"] = 1500
    facts["collector"].update(complete=False, reasons=["not root"], is_root=False)
    r = P.evaluate(facts, loaded.layers, today=TODAY)
    assert [(f["rule"], f["severity"]) for f in r["findings"]] == [
        ("incomplete-facts", "error"),
        ("state-threshold", "warning"),
    ]
    # partial facts are never called compliant by the default policy
    assert not r["compliant"]


def web_host():
    return host(
        *(
            BASE_HOST
            + [
                lst("tcp", "0.0.0.0", 80, "nginx", 900),
                lst("tcp", "0.0.0.0", 443, "nginx", 900),
                lst("tcp", "127.0.0.1", 8000, "gunicorn", 950, "app"),
            ]
        )
    )


def test_webserver_example():
    loaded = L.load_policies(os.path.join(POLICIES, "examples", "webserver.yml"))
    r = P.evaluate(web_host(), loaded.layers, today=TODAY)
    # the example's waiver covers a java console this host does not run: an info finding
    assert [(f["rule"], f["severity"]) for f in r["findings"]] == [("unused-waiver", "info")]
    assert r["compliant"]
    bad = web_host()
    bad["listeners"] = [x for x in bad["listeners"] if x["port"] != 443]
    bad["listeners"].append(lst("tcp", "0.0.0.0", 8001, "gunicorn", 951, "app"))
    bad["listeners"].append(lst("tcp", "0.0.0.0", 8443, "java", 952, "app"))
    r = P.evaluate(bad, loaded.layers, today=TODAY)
    got = [(f["rule"], f["subject"], f["waived"] is not None) for f in r["findings"]]
    assert got == [
        ("missing-listener", "tcp port 443", False),
        ("wrong-bind", "tcp 0.0.0.0:8001", False),
        ("unexpected-listener", "tcp 0.0.0.0:8443", True),
    ]
    assert P.evaluate(bad, loaded.layers, today="2031-01-01")["counts"]["warning"] == 1  # the waiver expired


def test_database_example():
    loaded = L.load_policies(os.path.join(POLICIES, "examples", "database.yml"))
    pg = lst("tcp", "10.0.0.5", 5432, "postgres", 800, "postgres")
    r = P.evaluate(host(*(BASE_HOST + [pg])), loaded.layers, today=TODAY)
    assert r["findings"] == []
    r = P.evaluate(host(*(BASE_HOST + [lst("tcp", "0.0.0.0", 5432, "postgres", 800, "postgres")])), loaded.layers, today=TODAY)
    assert [(f["rule"], f["subject"]) for f in r["findings"]] == [("wrong-bind", "tcp 0.0.0.0:5432")]
    facts = host(*(BASE_HOST + [pg]))
    facts["processes"] = {"801": proc("postgres", 801, "postgres")}
    facts["connections"]["rows"] = [["tcp", "ipv4", "ESTABLISHED", "10.0.0.5", 45000, "203.0.113.9", 443, 0, 0, 1, 0, [801]]]
    r = P.evaluate(facts, loaded.layers, today=TODAY)
    assert [(f["rule"], f["subject"]) for f in r["findings"]] == [("unexpected-peer", "tcp -> 203.0.113.9:443")]


def test_bastion_example():
    loaded = L.load_policies(os.path.join(POLICIES, "examples", "bastion.yml"))
    r = P.evaluate(host(*BASE_HOST), loaded.layers, today=TODAY)
    assert r["findings"] == []
    facts = host(*(BASE_HOST + [lst("tcp", "0.0.0.0", 1080, "ssh", 4000, "alice")]))
    facts["unix"].append(
        {
            "type": "stream",
            "state": "LISTENING",
            "path": "/tmp/ssh-XXXX/agent.123",
            "mode": "0600",
            "processes": [proc("ssh-agent", 4001, "alice")],
        }
    )
    r = P.evaluate(facts, loaded.layers, today=TODAY)
    assert [(f["rule"], f["subject"]) for f in r["findings"]] == [
        ("forbidden-listener", "tcp 0.0.0.0:1080"),
        ("unexpected-unix-socket", "unix /tmp/ssh-XXXX/agent.123"),
    ]
