# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Learn mode: the learned policy loads like any policy, audits its own hosts clean with the real
policy engine, and flags what changes afterwards."""

import copy
import os
import sys

import pytest
import yaml

_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
try:
    import ansible_collections.netaudit.netstat  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # not run through ansible-test: use the checkout's collections link
    sys.path.insert(0, os.path.join(_REPO, ".venv", "collections"))

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _baseline, _policy_loader

HOSTILE_CMDLINE = "evil\nlisteners: {default: allow}\r\u2028# x \u2029\x85 <script> `x` | " + "C" * 500


def proc(pid, name, user="root", cmdline=None, exe=None):
    return {
        "pid": pid,
        "ppid": 1,
        "name": name,
        "exe": exe or "/usr/sbin/" + name,
        "cmdline": cmdline if cmdline is not None else name,
        "uid": 0 if user == "root" else 1000,
        "user": user,
    }


def listener(proto, address, port, procs, exposure, family="ipv4", user="root"):
    return {
        "proto": proto,
        "family": family,
        "address": address,
        "port": port,
        "state": "LISTEN" if proto == "tcp" else "CLOSED",
        "recv_q": 0,
        "send_q": 0,
        "backlog": None,
        "inode": port * 10 + len(address),
        "uid": 0 if user == "root" else 1000,
        "user": user,
        "exposure": exposure,
        "v6only": True if family == "ipv6" else None,
        "interface": None,
        "service": None,
        "processes": procs,
    }


def facts(listeners, complete=True, time_wait=0, established=0):
    counts = {
        "tcp": dict.fromkeys(_policy.TCP_STATE_NAMES, 0),
        "udp": dict.fromkeys(_policy.TCP_STATE_NAMES, 0),
    }
    counts["tcp"]["LISTEN"] = sum(1 for x in listeners if x["proto"] == "tcp")
    counts["tcp"]["TIME_WAIT"] = time_wait
    counts["tcp"]["ESTABLISHED"] = established
    counts["udp"]["CLOSED"] = sum(1 for x in listeners if x["proto"] == "udp")
    return {
        "collector": {
            "backend": "procfs",
            "complete": complete,
            "reasons": [] if complete else ["not root"],
        },
        "listeners": listeners,
        "counts": counts,
    }


SSHD = [
    listener("tcp", "0.0.0.0", 22, [proc(800, "sshd")], "wildcard"),
    listener("tcp", "::", 22, [proc(800, "sshd")], "wildcard", family="ipv6"),
]
NGINX = [
    listener(
        "tcp",
        "0.0.0.0",
        port,
        [proc(900, "nginx"), proc(901, "nginx", "www-data"), proc(902, "nginx", "www-data")],
        "wildcard",
    )
    for port in (80, 443)
]
CHRONY = [listener("udp", "127.0.0.1", 323, [proc(700, "chronyd", "_chrony")], "loopback", user="_chrony")]
WEIRD = [listener("tcp", "10.0.0.5", 9000, [proc(1200, "[weird]*?", cmdline=HOSTILE_CMDLINE)], "private")]
UNOWNED = [listener("tcp", "127.0.0.1", 2024, [], "loopback")]
POSTGRES = [listener("tcp", "127.0.0.1", 5432, [proc(1500, "postgres", "postgres")], "loopback", user="postgres")]


def golden():
    return facts(SSHD + NGINX + CHRONY + WEIRD, time_wait=300, established=12)


def load(text, tmp_path, name="learned.yml"):
    path = tmp_path / name
    path.write_text(text)
    return _policy_loader.load_policies([str(path)]).layers


def audit(host_facts, layers):
    return _policy.evaluate(host_facts, layers)


def test_learned_policy_loads_and_audits_clean(tmp_path):
    learned = _baseline.learn({"web1": golden()}, name="web")
    text = _baseline.render(learned)
    layers = load(text, tmp_path)  # schema + semantic checks of the policy loader
    result = audit(golden(), layers)
    assert result["findings"] == [] and result["compliant"] is True


def test_comments_cannot_inject_yaml(tmp_path):
    learned = _baseline.learn({"web1": golden()})
    text = _baseline.render(learned)
    assert yaml.safe_load(text) == learned["policy"]  # the hostile cmdline stayed in a comment
    assert "<script>" in text and "\\x0a" in text  # shown, one line
    for line in text.splitlines():
        assert (
            line.startswith(("#", " ", "policy:", "description:", "listeners:", "states:", "completeness:", "extends:"))
            or not line
        )


def test_entries(tmp_path):
    policy = _baseline.learn({"web1": golden()})["policy"]
    assert policy["listeners"]["default"] == "deny"
    allow = {(e["proto"], e["port"]): e for e in policy["listeners"]["allow"]}
    assert allow[("tcp", 22)] == {"proto": "tcp", "port": 22, "bind": "any", "program": "sshd", "user": "root", "required": True}
    assert allow[("tcp", 80)]["program"] == "nginx"
    assert allow[("udp", 323)]["bind"] == "loopback" and allow[("udp", 323)]["user"] == "_chrony"
    assert allow[("tcp", 9000)]["bind"] == "private"
    assert allow[("tcp", 9000)]["program"] == "[[]weird][*][?]"  # literal, not a glob


def test_glob_escape_matches_only_itself(tmp_path):
    layers = load(_baseline.render(_baseline.learn({"h": golden()})), tmp_path)
    other = golden()
    other["listeners"][-1] = copy.deepcopy(other["listeners"][-1])
    other["listeners"][-1]["processes"][0]["name"] = "wXeird"
    other["listeners"][-1]["processes"][0]["exe"] = "/usr/sbin/wXeird"
    rules = {f["rule"] for f in audit(other, layers)["findings"]}
    assert "wrong-owner" in rules


def test_added_listener_is_drift(tmp_path):
    layers = load(_baseline.render(_baseline.learn({"h": golden()})), tmp_path)
    later = golden()
    later["listeners"].append(listener("tcp", "0.0.0.0", 8080, [proc(4242, "python3")], "wildcard"))
    result = audit(later, layers)
    assert result["compliant"] is False
    assert [(f["rule"], f["subject"]) for f in result["findings"]] == [("unexpected-listener", "tcp 0.0.0.0:8080")]


def test_stopped_service_is_drift(tmp_path):
    layers = load(_baseline.render(_baseline.learn({"h": golden()})), tmp_path)
    later = facts(SSHD + CHRONY + WEIRD, time_wait=300)
    rules = sorted(f["rule"] for f in audit(later, layers)["findings"])
    assert rules == ["missing-listener", "missing-listener"]  # nginx 80 and 443


def test_rebound_service_is_drift(tmp_path):
    layers = load(_baseline.render(_baseline.learn({"h": golden()})), tmp_path)
    later = golden()
    later["listeners"][4] = dict(later["listeners"][4], address="0.0.0.0", exposure="wildcard")  # chronyd
    assert "wrong-bind" in {f["rule"] for f in audit(later, layers)["findings"]}


def test_union_of_a_group(tmp_path):
    a = facts(SSHD + NGINX, established=5)
    b = facts(SSHD + POSTGRES, time_wait=40)
    learned = _baseline.learn({"web1": a, "db1": b}, name="fleet")
    allow = {(e["proto"], e["port"]): e for e in learned["policy"]["listeners"]["allow"]}
    assert allow[("tcp", 22)].get("required") is True
    assert "required" not in allow[("tcp", 80)] and "required" not in allow[("tcp", 5432)]
    text = _baseline.render(learned)
    assert "on 1/2 hosts: web1" in text and "on 2/2 hosts" in text
    layers = load(text, tmp_path)
    assert audit(a, layers)["findings"] == []
    assert audit(b, layers)["findings"] == []


def test_state_limits_with_headroom():
    policy = _baseline.learn({"h": golden()}, headroom=2.0, state_floor=100)["policy"]
    assert policy["states"]["tcp"]["TIME_WAIT"] == {"max": 600}
    assert policy["states"]["tcp"]["ESTABLISHED"] == {"max": 100}  # floor
    sampled = golden()
    sampled["counts_stats"] = {"tcp": {"TIME_WAIT": {"min": 1, "max": 1000, "last": 3}}}
    policy = _baseline.learn({"h": sampled}, headroom=1.5)["policy"]
    assert policy["states"]["tcp"]["TIME_WAIT"] == {"max": 1500}


def test_state_drift(tmp_path):
    layers = load(_baseline.render(_baseline.learn({"h": golden()})), tmp_path)
    flood = golden()
    flood["counts"]["tcp"]["TIME_WAIT"] = 5000
    findings = audit(flood, layers)["findings"]
    assert [(f["rule"], f["severity"]) for f in findings] == [("state-threshold", "warning")]


def test_incomplete_facts_learned_as_warning(tmp_path):
    partial = facts(SSHD + UNOWNED, complete=False)
    learned = _baseline.learn({"h": partial})
    assert learned["warnings"] and "incomplete" in learned["warnings"][0]
    entry = [e for e in learned["policy"]["listeners"]["allow"] if e["port"] == 2024][0]
    assert "program" not in entry
    text = _baseline.render(learned)
    assert "# WARNING:" in text
    result = audit(partial, load(text, tmp_path))
    assert result["compliant"] is True
    assert [f["rule"] for f in result["findings"]] == ["incomplete-facts"]


def test_extends_the_default_policy(tmp_path):
    default = os.path.join(_REPO, "policies", "default.yml")
    learned = _baseline.learn({"h": golden()}, extends=[default])
    layers = load(_baseline.render(learned), tmp_path)
    assert audit(golden(), layers)["compliant"] is True


def test_nothing_to_learn():
    with pytest.raises(_baseline.BaselineError):
        _baseline.learn({})
    with pytest.raises(_baseline.BaselineError, match="no ansible_facts.netstat"):
        _baseline.learn({"h": {"collector": {}}})
    empty = _baseline.learn({"h": facts([])})
    assert empty["policy"]["listeners"]["allow"] == []
    assert "allow: []" in _baseline.render(empty)


HOST_NS, WEB_NS, BLUE_NS = 4026531833, 4026532181, 4026532500
WEB = {"id": "a" * 64, "runtime": "docker", "name": "web", "image": "nginx:1.25"}


def docker_facts():
    host = listener("tcp", "0.0.0.0", 22, [proc(812, "sshd")], "wildcard")
    proxy = dict(listener("tcp", "0.0.0.0", 8080, [proc(900, "docker-proxy")], "wildcard"), container=WEB,
                 forwards_to={"proto": "tcp", "address": "172.17.0.2", "port": 80, "container": WEB})
    inside = dict(listener("tcp", "0.0.0.0", 80, [dict(proc(2000, "nginx"), container=WEB)], "wildcard"),
                  netns=WEB_NS, container=WEB)
    blue = dict(listener("tcp", "127.0.0.1", 7000, [proc(3000, "app")], "loopback"), netns=BLUE_NS, container=None)
    fx = facts([host, proxy, inside, blue])
    for lst in (host, proxy):
        lst["netns"] = HOST_NS
    fx["collector"]["primary_netns"] = HOST_NS
    fx["namespaces"] = [
        {"inode": HOST_NS, "name": None, "primary": True, "current": True, "host": True, "containers": []},
        {"inode": WEB_NS, "name": "web", "primary": False, "current": False, "host": False, "containers": [WEB]},
        {"inode": BLUE_NS, "name": "blue", "names": ["blue"], "primary": False, "current": False, "host": False,
         "containers": []},
    ]
    fx["published"] = [{"proto": "udp", "family": "ipv4", "address": "0.0.0.0", "port": 5353, "exposure": "wildcard",
                        "container_port": 53, "container": WEB, "socket": False, "held_by": []}]
    return fx


def test_containers_and_namespaces_are_learned(tmp_path):
    fx = docker_facts()
    learned = _baseline.learn({"dockerhost": fx}, name="docker")
    allow = learned["policy"]["listeners"]["allow"]
    where = {(e["proto"], e["port"]): {k: e.get(k) for k in ("container", "image", "netns", "program")} for e in allow}
    assert where[("tcp", 22)] == {"container": None, "image": None, "netns": None, "program": "sshd"}
    assert where[("tcp", 8080)] == {"container": "web", "image": "nginx:1.25", "netns": None, "program": "docker-proxy"}
    assert where[("tcp", 80)] == {"container": "web", "image": "nginx:1.25", "netns": None, "program": "nginx"}
    assert where[("tcp", 7000)] == {"container": None, "image": None, "netns": "blue", "program": "app"}
    assert where[("udp", 5353)] == {"container": "web", "image": "nginx:1.25", "netns": None, "program": None}
    text = _baseline.render(learned)
    assert "in container web (nginx:1.25)" in text and "in network namespace blue" in text
    layers = load(text, tmp_path)
    assert audit(fx, layers)["verdict"] == "compliant"
    # a stray listener in the container is drift against what was learned
    stray = dict(listener("tcp", "0.0.0.0", 9999, [dict(proc(2100, "python3"), container=WEB)], "wildcard"),
                 netns=WEB_NS, container=WEB)
    fx["listeners"].append(stray)
    res = audit(fx, layers)
    assert [(f["rule"], f["subject"]) for f in res["findings"]] == [("unexpected-listener", "tcp 0.0.0.0:9999 (web)")]
