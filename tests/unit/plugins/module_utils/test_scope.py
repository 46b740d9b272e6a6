# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Namespaces, containers and images in the engine (canned facts in the gatherer's shape; the
real-daemon tests are in tests/containers): which sockets a rule is about, what a finding names."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy as P
from ansible_collections.netaudit.netstat.plugins.module_utils import _scope as S

from test_policy import facts, listener, proc, rules, run

HOST, WEB_NS, POD_NS = 4026531833, 4026532181, 4026532200
WEB = {"id": "a" * 64, "runtime": "docker", "name": "web", "image": "nginx:1.25"}
ANON = {"id": "b" * 64, "runtime": "docker", "name": None, "image": None}


def in_ns(lst, netns, container=None, procs_container=None):
    lst = dict(lst, netns=netns, container=container)
    lst["processes"] = [dict(p, container=procs_container) for p in lst["processes"]]
    return lst


def docker_host(*listeners, published=()):
    return facts(
        list(listeners),
        collector={"backend": "netlink", "complete": True, "reasons": [], "connections": "counts",
                   "primary_netns": HOST, "netns_inode": HOST},
        namespaces=[
            {"inode": HOST, "name": None, "names": [], "primary": True, "current": True, "host": True, "containers": []},
            {"inode": WEB_NS, "name": "web", "names": [], "primary": False, "current": False, "host": False,
             "containers": [WEB]},
            {"inode": POD_NS, "name": "pod-a", "names": ["pod-a"], "primary": False, "current": False, "host": False,
             "containers": []},
        ],
        published=list(published),
    )


SSH = in_ns(listener("tcp", "0.0.0.0", 22, [proc("sshd", 812)]), HOST)
NGINX_IN = in_ns(listener("tcp", "0.0.0.0", 80, [proc("nginx", 2000)]), WEB_NS, WEB, WEB)
STRAY_IN = in_ns(listener("tcp", "0.0.0.0", 9999, [proc("python3", 2100)]), WEB_NS, WEB, WEB)
CLOSED = {"policy": "p", "listeners": {"default": "deny", "allow": [{"proto": "tcp", "port": 22, "program": "sshd"}]}}


def test_rules_without_netns_judge_the_primary_namespace():
    # closed world: the container's listeners are not allowed by a rule about the host
    res = run(docker_host(SSH, NGINX_IN), [CLOSED])
    assert rules(res) == [("unexpected-listener", "tcp 0.0.0.0:80 (web)")]
    f = res["findings"][0]
    assert f["containers"] == ["web"] and f["container_ids"] == [WEB["id"]] and f["images"] == ["nginx:1.25"]
    assert f["netns"] == "web"
    # a host rule about port 80 does not cover the container's port 80
    pol = {"policy": "p", "listeners": {"default": "deny", "allow": [{"port": [22, 80]}]}}
    assert rules(run(docker_host(SSH, NGINX_IN), [pol])) == [("unexpected-listener", "tcp 0.0.0.0:80 (web)")]


@pytest.mark.parametrize("entry", [
    {"port": 80, "netns": "any"},
    {"port": 80, "netns": "web"},
    {"port": 80, "netns": "w*"},
    {"port": 80, "netns": str(WEB_NS)},
    {"port": 80, "container": "web"},
    {"port": 80, "container": "a" * 12},
    {"port": 80, "container": WEB["id"]},
    {"port": 80, "image": "nginx:*"},
    {"port": 80, "container": "web", "image": "nginx:1.25", "program": "nginx"},
])
def test_matchers_that_reach_the_container(entry):
    pol = {"policy": "p", "listeners": {"default": "deny", "allow": [{"port": 22}, entry]}}
    assert rules(run(docker_host(SSH, NGINX_IN), [pol])) == []


def test_netns_host_is_not_a_container_and_image_mismatch_is_wrong_owner():
    pol = {"policy": "p", "listeners": {"default": "deny", "allow": [
        {"port": 22, "netns": "host"}, {"port": 80, "container": "web", "image": "httpd:*"}]}}
    res = run(docker_host(SSH, NGINX_IN), [pol])
    assert [(f["rule"], f["expected"], f["actual"]) for f in res["findings"]] == [("wrong-owner", "image httpd:*", "nginx:1.25")]
    # a host process is not in a container: a container rule about it is broken, not unknown
    pol = {"policy": "p", "listeners": {"default": "deny", "allow": [{"port": 22, "container": "web"}]}}
    res = run(docker_host(SSH), [pol])
    assert [(f["rule"], f["actual"]) for f in res["findings"]] == [("wrong-owner", "not in a container")]


def test_a_container_the_runtime_did_not_name_is_incomplete_not_drift():
    anon = in_ns(listener("tcp", "0.0.0.0", 80, [proc("nginx", 2000)]), WEB_NS, ANON, ANON)
    pol = {"policy": "p", "listeners": {"default": "deny", "allow": [{"port": 22}, {"port": 80, "container": "web"}]}}
    res = run(docker_host(SSH, anon), [pol])
    # neither met nor broken: not drift (the rule's other checks pass), but not silently compliant either
    assert [(f["rule"], f["subject"], f["cause"]) for f in res["findings"]] == [
        ("incomplete-facts", "tcp 0.0.0.0:80 (web)", "runtime")]
    assert res["verdict"] == "incomplete"
    assert "container web" in res["findings"][0]["actual"]
    res = run(docker_host(SSH, anon), [{"policy": "p", "listeners": {"default": "deny", "allow": [
        {"port": 22}, {"port": 80, "container": "b" * 12}]}}])
    assert rules(res) == []  # the id still matches


def test_deny_by_container_and_by_image():
    pol = {"policy": "p", "listeners": {"default": "allow", "deny": [{"image": "nginx:*", "port": 9999}]}}
    assert rules(run(docker_host(SSH, NGINX_IN, STRAY_IN), [pol])) == [("forbidden-listener", "tcp 0.0.0.0:9999 (web)")]
    pol = {"policy": "p", "listeners": {"default": "allow", "deny": [{"port": 9999}]}}
    assert rules(run(docker_host(SSH, NGINX_IN, STRAY_IN), [pol])) == []  # a host rule: the host has no 9999


def test_required_listener_in_a_container():
    pol = {"policy": "p", "listeners": {"default": "allow", "allow": [{"port": 443, "container": "web", "required": True}]}}
    assert rules(run(docker_host(SSH, NGINX_IN), [pol])) == [("missing-listener", "tcp/udp port 443")]
    pol["listeners"]["allow"][0]["port"] = 80
    assert rules(run(docker_host(SSH, NGINX_IN), [pol])) == []


def test_published_by_nat_alone_is_judged_as_a_listener():
    nat = {"proto": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": 16379, "exposure": "wildcard",
           "container_port": 6379, "container": WEB, "socket": False, "held_by": []}
    res = run(docker_host(SSH, published=[nat]), [CLOSED])
    assert rules(res) == [("unexpected-listener", "tcp 0.0.0.0:16379")]
    f = res["findings"][0]
    assert f["containers"] == ["web"] and "published by web to port 6379 (NAT rules, no host socket)" in f["message"]
    pol = {"policy": "p", "listeners": {"default": "deny", "allow": [{"port": 22}, {"port": 16379, "container": "web"}]}}
    assert rules(run(docker_host(SSH, published=[nat]), [pol])) == []
    # a binding a host socket holds is that socket's business (docker-proxy is the listener)
    held = dict(nat, socket=True, held_by=["docker-proxy"])
    assert rules(run(docker_host(SSH, published=[held]), [CLOSED])) == []


def test_waivers_by_container_image_and_netns():
    fx = docker_host(SSH, STRAY_IN)
    for match in ({"container": "web"}, {"container": "a" * 12}, {"image": "nginx:*"}, {"netns": "web"},
                  {"netns": "any"}):
        pol = dict(CLOSED, waivers=[{"rule": "unexpected-listener", "match": match, "reason": "T-1", "expires": "2999-01-01"}])
        assert rules(run(fx, [pol]), waived=True) == [("unexpected-listener", "tcp 0.0.0.0:9999 (web)")], match
    for match in ({"container": "db"}, {"image": "redis:*"}, {"netns": "host"}):
        pol = dict(CLOSED, waivers=[{"rule": "unexpected-listener", "match": match, "reason": "T-1", "expires": "2999-01-01"}])
        assert rules(run(fx, [pol]), waived=True) == [], match


def test_unix_sockets_of_two_namespaces_are_two_sockets():
    a = {"type": "stream", "state": "LISTENING", "flags": ["ACC"], "refcnt": 2, "inode": 1, "path": "/run/app.sock",
         "abstract": False, "peer": None, "mode": "0755", "file_uid": 0, "processes": [proc("app", 10)], "netns": HOST}
    b = dict(a, inode=2, netns=WEB_NS, container=WEB, mode="0700", processes=[dict(proc("app", 20), container=WEB)])
    fx = docker_host(SSH)
    fx["unix"] = [a, b]
    pol = {"policy": "p", "unix": {"default": "deny", "allow": [{"path": "/run/app.sock", "container": "web"}]}}
    res = run(fx, [pol])
    assert rules(res) == [("unexpected-unix-socket", "unix /run/app.sock")]


def test_facts_with_bad_context_fields_are_named():
    for bad, where in (({"netns": "x"}, "listeners[0].netns"), ({"container": 5}, "listeners[0].container"),
                       ({"container": {"id": "a", "name": 3}}, "listeners[0].container.name")):
        fx = docker_host(dict(SSH, **bad))
        with pytest.raises(P.PolicyEvalError, match=r"facts: %s" % where.replace("[", r"\[").replace("]", r"\]")):
            run(fx, [CLOSED])
    fx = docker_host(SSH, published=[{"port": 70000}])
    with pytest.raises(P.PolicyEvalError, match=r"published\[0\]\.port"):
        run(fx, [CLOSED])


def test_spaces_labels():
    sp = S.Spaces(docker_host())
    assert sp.label({"netns": HOST}) is None and sp.label({}) is None
    assert sp.label({"netns": WEB_NS}) == "web" and sp.label({"netns": 99}) == "netns 99"
    assert sp.netns_matches(["pod-*"], {"netns": POD_NS}) and not sp.netns_matches(["host"], {"netns": POD_NS})
    # facts of one namespace (or older facts without namespaces): everything is primary and host
    one = S.Spaces(facts([]))
    assert one.is_primary({"netns": 5}) and one.netns_matches(["host"], {"netns": 5})


def test_state_limits_per_namespace():
    fx = docker_host(SSH)
    tables = {HOST: 5, WEB_NS: 500, POD_NS: 50}
    for ns in fx["namespaces"]:
        ns["counts"] = {"tcp": dict({s: 0 for s in P.TCP_STATE_NAMES}, TIME_WAIT=tables[ns["inode"]])}
    fx["counts"]["tcp"]["TIME_WAIT"] = tables[HOST]
    limit = {"max": 100}
    assert rules(run(fx, [{"policy": "p", "states": {"tcp": {"TIME_WAIT": limit}}}])) == []  # the host's 5
    res = run(fx, [{"policy": "p", "states": {"tcp": {"TIME_WAIT": dict(limit, netns="any")}}}])
    assert rules(res) == [("state-threshold", "tcp TIME_WAIT (web)")]
    assert res["findings"][0]["actual"] == "500" and res["findings"][0]["netns"] == "web"
    res = run(fx, [{"policy": "p", "states": {"tcp": {"TIME_WAIT": {"max": 10, "netns": ["pod-*", "host"]}}}}])
    assert rules(res) == [("state-threshold", "tcp TIME_WAIT (pod-a)")]


def test_a_compiled_policy_judges_each_host_as_a_fresh_one():
    """compile_policy(): one merge and one compilation for a fleet; each host still judged with its
    own namespaces (the compiled entries point at the host being evaluated)."""
    pol = {"policy": "p", "listeners": {"default": "deny", "allow": [{"port": 22}, {"port": 80, "container": "web"}]}}
    compiled = P.compile_policy([pol])
    other = dict(NGINX_IN, netns=POD_NS, container=None, processes=[proc("nginx", 3000)])
    hosts = [docker_host(SSH, NGINX_IN), docker_host(SSH, STRAY_IN), docker_host(SSH, other), docker_host(SSH, NGINX_IN)]
    for fx in hosts:
        assert rules(P.evaluate(fx, compiled, today="2026-06-01")) == rules(run(fx, [pol]))
    assert rules(P.evaluate(hosts[2], compiled, today="2026-06-01")) == [("wrong-owner", "tcp 0.0.0.0:80 (pod-a)")]
