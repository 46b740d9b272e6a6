# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""netstat_audit through ansible-playbook against a network namespace with known sockets: one
scenario per rule kind, asserting the exact findings."""

import json
import os

import yaml
from netns_helpers import PYTHON, REPO, run_playbook, ss_inet

HELPER = os.path.join(REPO, "tests", "integration", "audit_sockets.py")
TODAY = "2026-06-01"
NOBODY = 65534


def start(ns, services):
    dummy, rest = ns.start([PYTHON, HELPER, json.dumps(services)])
    return json.loads(rest)


def audit(ns, policy, user=None, drop_caps=None, **args):
    """Run netstat_audit on the namespace host; return the registered result.

    The result comes back through a debug task (printed on the controller), so that nothing is
    copied to the host: an unprivileged interpreter could not read Ansible's private temp files.
    Pipelining sends the facts module over stdin for the same reason.
    """
    path = os.path.join(ns.tmpdir, "policy.yml")
    with open(path, "w") as f:
        f.write(yaml.safe_dump(policy) if isinstance(policy, dict) else policy)
    task = {"policy": path, "today": TODAY, "fail_on": "never"}
    task.update(args)
    play = [
        {
            "hosts": "all",
            "gather_facts": False,
            "tasks": [
                {"netaudit.netstat.netstat_audit": task, "register": "audit", "ignore_errors": True},
                {"ansible.builtin.debug": {"msg": "AUDIT-JSON {{ audit | to_json }}"}},
            ],
        }
    ]
    interpreter = ns.interpreter(user=user, drop_caps=drop_caps)
    inventory = "%s ansible_connection=local ansible_python_interpreter=%s\n" % (ns.name, interpreter)
    env = {"ANSIBLE_PIPELINING": "True", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "ANSIBLE_STDOUT_CALLBACK": "default"}
    res = run_playbook(ns.tmpdir, yaml.safe_dump(play), inventory, extra_env=env)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    for line in res.stdout.splitlines():
        if '"msg": "AUDIT-JSON ' in line:
            return json.loads(json.loads("{" + line.strip() + "}")["msg"][len("AUDIT-JSON ") :])
    raise AssertionError("no audit result in the output:\n" + res.stdout[-4000:])


def findings(result, waived=False):
    return [(f["severity"], f["rule"], f["subject"]) for f in result["findings"] if (f["waived"] is not None) == waived]


def test_listener_rules(netns):
    start(
        netns,
        [
            {"name": "sshd", "tcp": [["0.0.0.0", 22]]},
            {"name": "in.telnetd", "tcp": [["0.0.0.0", 23]]},
            {"name": "redis-server", "tcp": [["0.0.0.0", 6379]]},
            {"name": "python-app", "tcp": [["127.0.0.1", 9000]]},
            {"name": "webd", "tcp": [["0.0.0.0", 8080]]},
            {"name": "metrics", "user": NOBODY, "tcp": [["127.0.0.1", 9100]]},
            {"name": "chronyd", "udp": [["127.0.0.1", 323]]},
        ],
    )
    policy = """\
policy: scenario
listeners:
  default: deny
  allow:
    - {proto: tcp, port: ssh, bind: any, program: sshd, user: root, required: true}
    - {proto: tcp, port: https, program: nginx, required: true}
    - {proto: tcp, port: redis, bind: loopback, program: redis-server}
    - {proto: tcp, port: 9000, bind: loopback, program: php-fpm*}
    - {proto: tcp, port: 9100, bind: loopback, user: prometheus}
    - {proto: udp, port: chrony, bind: loopback, program: chronyd}
  deny:
    - {proto: tcp, port: telnet, reason: telnet is never allowed}
"""
    result = audit(netns, policy)
    assert findings(result) == [
        ("error", "forbidden-listener", "tcp 0.0.0.0:23"),
        ("error", "missing-listener", "tcp port 443"),
        ("error", "unexpected-listener", "tcp 0.0.0.0:8080"),
        ("error", "wrong-bind", "tcp 0.0.0.0:6379"),
        ("error", "wrong-owner", "tcp 127.0.0.1:9000"),
        ("error", "wrong-user", "tcp 127.0.0.1:9100"),
    ]
    got = {(f["rule"], f["subject"]): f for f in result["findings"]}
    assert sorted(got) == [
        ("forbidden-listener", "tcp 0.0.0.0:23"),
        ("missing-listener", "tcp port 443"),
        ("unexpected-listener", "tcp 0.0.0.0:8080"),
        ("wrong-bind", "tcp 0.0.0.0:6379"),
        ("wrong-owner", "tcp 127.0.0.1:9000"),
        ("wrong-user", "tcp 127.0.0.1:9100"),
    ]
    assert all(f["severity"] == "error" for f in result["findings"])
    assert got[("unexpected-listener", "tcp 0.0.0.0:8080")]["actual"].startswith("listening: webd (pid ")
    assert got[("wrong-owner", "tcp 127.0.0.1:9000")]["actual"] == "python-app"
    assert got[("wrong-user", "tcp 127.0.0.1:9100")]["actual"] == "nobody"
    assert got[("forbidden-listener", "tcp 0.0.0.0:23")]["source"] == "policy.yml:12"
    assert got[("missing-listener", "tcp port 443")]["source"] == "policy.yml:6"
    assert result["compliant"] is False and result["counts"] == {"error": 6, "warning": 0, "info": 0}
    assert "findings" not in result["netstat_audit"]  # once, at the top of the result
    assert result["netstat_audit"]["verdict"] == result["verdict"]


def test_state_and_queue_rules(netns):
    start(
        netns,
        [
            {"name": "appsrv", "tcp": [["127.0.0.1", 7100]]},
            {"name": "dbsrv", "tcp": [["127.0.0.1", 7200]]},
            {"name": "slowsrv", "tcp": [["127.0.0.1", 7300, {"backlog": 2, "accept": False}]]},
            {
                "name": "client",
                "connect": [
                    ["127.0.0.1", 7100, {"count": 4, "close": True}],
                    ["127.0.0.1", 7200, {"count": 1, "send": 65536}],
                    ["127.0.0.1", 7300, {"count": 3}],
                ],
            },
        ],
    )
    policy = {
        "policy": "states",
        "states": {
            "tcp": {
                "CLOSE_WAIT": [{"max": 2, "port": 7100, "program": "appsrv"}],
                "LISTEN": {"max": 2, "severity": "info"},
                "ESTABLISHED": {"min": 100, "severity": "error"},
            }
        },
        "queues": {"listen_fill": {"max": 0.8}, "recv_q": {"max": 4096}},
    }
    result = audit(netns, policy, gather={"backend": "netlink"})
    assert sorted(findings(result)) == sorted(
        [
            ("error", "state-threshold", "tcp ESTABLISHED"),
            ("warning", "queue-threshold", "tcp 127.0.0.1:7300 accept queue"),
            ("warning", "queue-threshold", "tcp port 7200 recv_q (dbsrv)"),
            ("warning", "state-threshold", "tcp CLOSE_WAIT port 7100 program appsrv"),
            ("info", "state-threshold", "tcp LISTEN"),
        ]
    ), result["findings"]
    got = {f["subject"]: f for f in result["findings"]}
    assert got["tcp CLOSE_WAIT port 7100 program appsrv"]["actual"] == "4"
    assert got["tcp LISTEN"]["actual"] == "3"
    assert got["tcp 127.0.0.1:7300 accept queue"]["actual"] == "3 of 2 (150%)"
    assert got["tcp port 7200 recv_q (dbsrv)"]["actual"].startswith("1 connection(s) over, worst 65536")


def test_egress_rules(netns):
    # Extra addresses on lo stand in for remote hosts (no dummy/veth modules needed).
    for addr in ("10.9.0.1/32", "198.51.100.1/32", "192.0.2.1/32"):
        res = netns.run(["ip", "addr", "add", addr, "dev", "lo"])
        assert res.returncode == 0, res.stderr
    start(
        netns,
        [
            {"name": "remote", "tcp": [["10.9.0.1", 80], ["198.51.100.1", 443], ["192.0.2.1", 8443]]},
            {"name": "curl", "connect": [["10.9.0.1", 80], ["198.51.100.1", 443, {"count": 2}], ["192.0.2.1", 8443]]},
        ],
    )
    policy = {
        "policy": "egress",
        "egress": {
            "default": "deny",
            "allow": [{"cidr": "10.0.0.0/8"}],
            "deny": [{"cidr": "198.51.100.0/24", "port": "https", "reason": "no direct internet"}],
        },
    }
    result = audit(netns, policy)
    assert findings(result) == [
        ("error", "forbidden-peer", "tcp -> 198.51.100.1:443"),
        ("warning", "unexpected-peer", "tcp -> 192.0.2.1:8443"),
    ]
    assert result["findings"][0]["actual"].startswith("2 connection(s) from curl (pid ")


def test_unix_rules(netns):
    d = netns.tmpdir
    start(
        netns,
        [
            {"name": "app", "unix": [[d + "/app.sock", "0777"], [d + "/private.sock", "0600"]]},
            {"name": "dockerd", "unix": [[d + "/docker.sock", "0666"]]},
            {"name": "stray", "unix": [[d + "/stray.sock", "0660"]]},
        ],
    )
    policy = {
        "policy": "unix",
        "unix": {
            "default": "deny",
            "allow": [{"path": d + "/app.sock"}, {"path": d + "/private.sock"}, {"path": d + "/docker.sock"}],
            "deny": [{"path": "*/docker.sock", "world_writable": True, "reason": "root-equivalent"}],
            "world_writable": {"severity": "warning"},
        },
    }
    result = audit(netns, policy)
    assert findings(result) == [
        ("error", "forbidden-unix-socket", "unix %s/docker.sock" % d),
        ("warning", "unexpected-unix-socket", "unix %s/stray.sock" % d),
        ("warning", "world-writable-unix-socket", "unix %s/app.sock" % d),
    ]


def _ss_pids(ns, port):
    return sorted({p for sock in ss_inet(ns) if sock["local_port"] == port and sock["state"] == "LISTEN" for p in sock["pids"]})


def test_incomplete_facts_and_unknown_owner(netns):
    start(netns, [{"name": "nginx", "tcp": [["0.0.0.0", 80]]}])
    holders = _ss_pids(netns, 80)  # ss, as full root, sees who holds it
    assert holders
    policy = {"policy": "owners", "listeners": {"default": "deny", "allow": [{"port": 80, "program": "nginx"}]}}
    result = audit(netns, policy, user=str(NOBODY))
    # not drift: the one finding is about the socket whose owner could not be read, and why
    assert findings(result) == [("error", "incomplete-facts", "tcp 0.0.0.0:80")]
    f = result["findings"][0]
    assert f["cause"] == "not-root" and set(holders) <= set(f["unresolved"]["pids"])
    assert "become: true" in f["message"]
    assert result["verdict"] == "incomplete"
    result = audit(netns, policy, user=str(NOBODY), allow_incomplete=True)
    assert findings(result) == [("info", "incomplete-facts", "tcp 0.0.0.0:80")]
    assert result["compliant"] is True and result["verdict"] == "compliant"
    # as root the owner is known and the host complies
    root = audit(netns, policy)
    assert root["findings"] == [] and root["verdict"] == "compliant"


def test_root_without_the_capabilities_of_the_owner(netns):
    """Root, but with a reduced bounding set, cannot read the fds of a full-capability listener
    (what pid 1 of a sandbox does to every audit): incomplete, with that socket and pid named."""
    start(netns, [{"name": "api", "tcp": [["0.0.0.0", 2024]]}, {"name": "sshd", "tcp": [["127.0.0.1", 22]]}])
    holders = _ss_pids(netns, 2024)
    policy = {"policy": "sandbox", "listeners": {"default": "deny", "allow": [{"port": 2024, "program": "api"},
                                                                              {"port": 22, "program": "sshd"}]}}
    result = audit(netns, policy, drop_caps="sys_ptrace,net_admin")
    incomplete = [f for f in result["findings"] if f["rule"] == "incomplete-facts"]
    assert {f["subject"] for f in incomplete} == {"tcp 0.0.0.0:2024", "tcp 127.0.0.1:22"}
    assert [f["rule"] for f in result["findings"]] == ["incomplete-facts"] * len(result["findings"])
    f = [f for f in incomplete if f["port"] == 2024][0]
    assert f["cause"] == "capabilities", f
    assert set(holders) <= set(f["unresolved"]["pids"])
    assert "become" not in f["message"] and "capabilities" in f["message"]
    assert "cap_" in f["unresolved"]["detail"]
    assert result["verdict"] == "incomplete" and result["fails"] is False  # fail_on: never
    # a waiver on those sockets (by port and by uid) makes the host compliant
    policy["waivers"] = [
        {"rule": "incomplete-facts", "match": {"proto": "tcp", "port": [22, 2024], "user": 0}, "reason": "sandbox pid 1",
         "expires": "2026-12-31"},
    ]
    waived = audit(netns, policy, drop_caps="sys_ptrace,net_admin")
    assert findings(waived) == [] and waived["verdict"] == "compliant" and waived["waived"] == 2


def test_waivers_and_fail_on(netns):
    start(netns, [{"name": "legacy", "tcp": [["0.0.0.0", 8081], ["0.0.0.0", 8082]]}])
    policy = """\
policy: waivers
listeners:
  default: deny
waivers:
  - {rule: unexpected-listener, match: {port: 8081}, reason: TICKET-1, expires: 2026-12-31}
  - {rule: unexpected-listener, match: {port: 8082}, reason: TICKET-2, expires: 2026-01-31}
"""
    result = audit(netns, policy)
    assert findings(result) == [
        ("error", "unexpected-listener", "tcp 0.0.0.0:8082"),
        ("warning", "expired-waiver", "waiver unexpected-listener port=8082"),
    ]
    assert findings(result, waived=True) == [("error", "unexpected-listener", "tcp 0.0.0.0:8081")]
    assert result["findings"][-1]["waived"] == {"reason": "TICKET-1", "expires": "2026-12-31", "source": "policy.yml:5"}
    assert not result.get("failed")
    # fail_on: error fails the task; the playbook still gets the findings (ignore_errors in audit())
    failed = audit(netns, policy, fail_on="error", today="2026-01-15")
    assert findings(failed) == [] and findings(failed, waived=True) == [
        ("error", "unexpected-listener", "tcp 0.0.0.0:8081"),
        ("error", "unexpected-listener", "tcp 0.0.0.0:8082"),
    ]
    assert not failed.get("failed")
