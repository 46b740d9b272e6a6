# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verdicts: incomplete is not drift, unresolved owners are findings about their socket, and
waivers match like rules (uids, policy service names, every finding kind)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy as P

from test_policy import TODAY, facts, listener, proc

PID1 = {
    "cause": "capabilities",
    "causes": ["capabilities"],
    "pids": [1],
    "detail": "could not inspect pid 1 (init): it holds cap_sys_resource, which the gatherer (root) lacks",
}


def unresolved(lst, why=None):
    lst = dict(lst, processes=[])
    lst["owner_unresolved"] = dict(why or PID1)
    return lst


def new_facts(listeners, unix=(), codes=("owners-unresolved",), reasons=None):
    fx = facts(listeners, complete=not codes, reasons=reasons or ["1 socket(s) have no known owner"] * len(codes))
    fx["collector"]["reason_codes"] = list(codes)
    fx["collector"]["owners"] = True
    fx["unix"] = list(unix)
    return fx


def run(fx, pol, **kw):
    return P.evaluate(fx, [pol], today=TODAY, **kw)


def rules(result, waived=False):
    return [(f["rule"], f["subject"]) for f in result["findings"] if (f["waived"] is not None) == waived]


SSH = listener("tcp", "0.0.0.0", 22, [proc("sshd", 812)])
HIDDEN = unresolved(listener("tcp", "0.0.0.0", 2024))
OPEN = {"listeners": {"default": "allow"}}
CLOSED = {"listeners": {"default": "deny", "allow": [{"port": 22, "program": "sshd"}, {"port": 2024, "program": "api"}]}}


def test_unresolved_owner_is_a_finding_about_its_socket():
    r = run(new_facts([SSH, HIDDEN]), OPEN)
    assert rules(r) == [("incomplete-facts", "tcp 0.0.0.0:2024")]
    f = r["findings"][0]
    assert f["cause"] == "capabilities" and f["unresolved"]["pids"] == [1]
    assert (f["proto"], f["address"], f["port"]) == ("tcp", "0.0.0.0", 2024)
    assert "pid 1 (init)" in f["message"] and "full capabilities" in f["message"]
    assert "become" not in f["message"]  # the advice follows the cause, not "gather as root"
    assert r["verdict"] == "incomplete" and r["compliant"] is False
    assert (r["drift_findings"], r["incomplete_findings"]) == (0, 1)
    # no collector-level finding: every reason is carried by a socket
    assert "collector" not in [f["subject"] for f in r["findings"]]


@pytest.mark.parametrize(
    "cause,advice",
    [("not-root", "become: true"), ("hidepid", "hidepid"), ("user-namespace", "user namespace"), ("lsm", "LSM")],
)
def test_advice_follows_the_cause(cause, advice):
    why = dict(PID1, cause=cause, causes=[cause])
    r = run(new_facts([unresolved(listener("tcp", "0.0.0.0", 2024), why)]), OPEN)
    assert r["findings"][0]["cause"] == cause
    assert advice in r["findings"][0]["message"]


def test_program_rule_with_unknown_owner_is_incomplete_not_drift():
    r = run(new_facts([SSH, HIDDEN]), CLOSED)
    assert rules(r) == [("incomplete-facts", "tcp 0.0.0.0:2024")]  # no wrong-owner
    # a program-only allow entry may be about it: no unexpected-listener either
    pol = {"listeners": {"default": "deny", "allow": [{"port": 22}, {"program": "api"}]}}
    assert rules(run(new_facts([SSH, HIDDEN]), pol)) == [("incomplete-facts", "tcp 0.0.0.0:2024")]
    # a required entry met by the unresolved socket is not missing
    pol = {"listeners": {"default": "deny", "allow": [{"port": 22}, {"port": 2024, "program": "api", "required": True}]}}
    assert rules(run(new_facts([SSH, HIDDEN]), pol)) == [("incomplete-facts", "tcp 0.0.0.0:2024")]


def test_drift_wins_over_incomplete_and_both_are_reported():
    stray = listener("tcp", "0.0.0.0", 8080, [proc("python3", 4242)])
    r = run(new_facts([SSH, HIDDEN, stray]), CLOSED)
    assert sorted(rules(r)) == [("incomplete-facts", "tcp 0.0.0.0:2024"), ("unexpected-listener", "tcp 0.0.0.0:8080")]
    assert r["verdict"] == "drift"
    assert (r["drift_findings"], r["incomplete_findings"]) == (1, 1)
    # an unresolved socket that no allow rule could match is drift, whoever owns it
    pol = {"listeners": {"default": "deny", "allow": [{"port": 22, "program": "sshd"}]}}
    r = run(new_facts([SSH, HIDDEN]), pol)
    assert sorted(rules(r)) == [("incomplete-facts", "tcp 0.0.0.0:2024"), ("unexpected-listener", "tcp 0.0.0.0:2024")]
    assert r["verdict"] == "drift"


def test_waiver_on_the_socket_makes_it_compliant():
    pol = dict(OPEN, waivers=[{"rule": "incomplete-facts", "match": {"proto": "tcp", "port": 2024}, "reason": "pid 1",
                               "expires": "2026-12-31"}])
    r = run(new_facts([SSH, HIDDEN]), pol)
    assert rules(r) == [] and rules(r, waived=True) == [("incomplete-facts", "tcp 0.0.0.0:2024")]
    assert r["verdict"] == "compliant" and r["waived"] == 1
    # it is used: no unused-waiver
    assert "unused-waiver" not in [f["rule"] for f in r["findings"]]
    # the waiver covers that socket only
    other = unresolved(listener("tcp", "0.0.0.0", 2025))
    r = run(new_facts([SSH, HIDDEN, other]), pol)
    assert rules(r) == [("incomplete-facts", "tcp 0.0.0.0:2025")] and r["verdict"] == "incomplete"


def test_allow_unresolved_on_an_allow_entry():
    pol = copy.deepcopy(CLOSED)
    pol["listeners"]["allow"][1]["allow_unresolved"] = True
    r = run(new_facts([SSH, HIDDEN]), pol)
    assert rules(r) == [] and r["verdict"] == "compliant"


def test_collector_finding_only_for_what_no_socket_carries():
    fx = new_facts([SSH, HIDDEN], codes=("malformed-lines", "owners-unresolved"),
                   reasons=["3 malformed line(s) in the kernel tables were skipped", "1 socket(s) have no known owner"])
    r = run(fx, OPEN)
    assert sorted(rules(r)) == [("incomplete-facts", "collector"), ("incomplete-facts", "tcp 0.0.0.0:2024")]
    col = [f for f in r["findings"] if f["subject"] == "collector"][0]
    assert "malformed" in col["actual"] and "owner" not in col["actual"]
    # owners unresolved only on sockets no rule looks at (an unnamed UNIX socket): nothing to say
    r = run(new_facts([SSH]), OPEN)
    assert rules(r) == [] and r["verdict"] == "compliant"


def test_kernel_socket_with_complete_facts_is_drift_for_a_program_rule():
    nfsd = listener("tcp", "0.0.0.0", 2049, [])
    fx = new_facts([nfsd], codes=())
    r = run(fx, {"listeners": {"allow": [{"port": 2049, "program": "rpc.nfsd"}]}})
    assert rules(r) == [("wrong-owner", "tcp 0.0.0.0:2049")]
    assert r["findings"][0]["actual"] == "no process holds this socket"
    assert r["verdict"] == "drift"


def test_owners_not_gathered_with_program_rules_is_incomplete():
    fx = new_facts([listener("tcp", "0.0.0.0", 22, [])], codes=())
    fx["collector"]["owners"] = False
    r = run(fx, {"listeners": {"allow": [{"port": 22, "program": "sshd"}]}})
    assert [(f["rule"], f["cause"]) for f in r["findings"]] == [("incomplete-facts", "owners-not-gathered")]
    assert rules(run(fx, {"listeners": {"allow": [{"port": 22}]}})) == []  # no rule needs an owner


def test_verdict_follows_fail_on():
    pol = {"listeners": {"default": "deny", "allow": [{"port": 22}]}, "severities": {"unexpected-listener": "warning"}}
    fx = new_facts([SSH, listener("tcp", "0.0.0.0", 8080, [proc("python3")])], codes=())
    assert run(fx, pol)["verdict"] == "compliant"
    assert run(fx, pol, fail_on="warning")["verdict"] == "drift"
    assert run(fx, pol, fail_on="never")["verdict"] == "compliant"


# -- waivers match like rules ------------------------------------------------------------------


def waiver(match, rule="*"):
    return {"rule": rule, "match": match, "reason": "TICKET-1", "expires": "2026-12-31"}


WWW = listener("tcp", "0.0.0.0", 8080, [proc("app", 700, user="www-data", uid=33)], user="www-data", uid=33)
DENY_ALL = {"listeners": {"default": "deny"}, "services": {"myapp": 8080}}


@pytest.mark.parametrize(
    "match",
    [{"user": 33}, {"user": "33"}, {"user": "www-*"}, {"port": "myapp"}, {"port": "8000-8100"}, {"port": "http-alt"},
     {"program": "/usr/sbin/ap?"}, {"bind": "any"}, {"address": "0.0.0.0/0"}],
)
def test_waiver_keys_accept_what_allow_entries_accept(match):
    r = run(new_facts([WWW], codes=()), dict(DENY_ALL, waivers=[waiver(match)]))
    assert rules(r) == [], match
    assert rules(r, waived=True) == [("unexpected-listener", "tcp 0.0.0.0:8080")], match


@pytest.mark.parametrize("match", [{"user": 34}, {"user": "root"}, {"port": "ssh"}, {"program": "nginx"}, {"bind": "loopback"}])
def test_waiver_keys_that_do_not_match(match):
    r = run(new_facts([WWW], codes=()), dict(DENY_ALL, waivers=[waiver(match)]))
    assert rules(r) == [("unexpected-listener", "tcp 0.0.0.0:8080"), ("unused-waiver", "waiver * " + P._match_text(match))]


def test_waiver_user_on_a_unix_socket_finding():
    sock = {"type": "stream", "state": "LISTEN", "flags": ["ACC"], "refcnt": 2, "inode": 77, "path": "/run/app.sock",
            "abstract": False, "mode": "0777", "file_uid": 33, "processes": [proc("app", 700, user="www-data", uid=33)]}
    fx = new_facts([], unix=[sock], codes=())
    for match in ({"user": "www-data"}, {"user": 33}, {"path": "/run/*.sock", "program": "app"}):
        r = run(fx, {"unix": {"default": "allow"}, "waivers": [waiver(match, "world-writable-unix-socket")]})
        assert rules(r) == [] and rules(r, waived=True) == [("world-writable-unix-socket", "unix /run/app.sock")], match
        f = r["findings"][0]
        assert f["path"] == "/run/app.sock" and f["uids"] == [33] and f["programs"][0]["pids"] == [700]


def test_unresolved_unix_socket_only_when_a_rule_needs_its_owner():
    sock = {"type": "stream", "state": "LISTEN", "flags": ["ACC"], "refcnt": 2, "inode": 78, "path": "/run/x.sock",
            "abstract": False, "mode": "0755", "file_uid": 0, "processes": [], "owner_unresolved": dict(PID1)}
    fx = new_facts([], unix=[sock])
    assert rules(run(fx, {"unix": {"default": "allow"}})) == []
    pol = {"unix": {"default": "deny", "allow": [{"path": "/run/x.sock", "program": "xd"}]}}
    r = run(fx, pol)
    assert rules(r) == [("incomplete-facts", "unix /run/x.sock")] and r["verdict"] == "incomplete"
    pol["waivers"] = [waiver({"path": "/run/x.sock"}, "incomplete-facts")]
    assert run(fx, pol)["verdict"] == "compliant"


def test_structured_fields_on_every_finding():
    stray = listener("tcp", "127.0.0.1", 9000, [proc("evil\nname", 5), proc("evil\nname", 6)])
    r = run(new_facts([stray], codes=()), {"listeners": {"default": "deny"}})
    f = r["findings"][0]
    assert f["programs"] == [{"name": "evil\nname", "exe": "/usr/sbin/evil\nname", "pids": [5, 6], "pid_count": 2,
                              "users": ["root"]}]
    assert (f["users"], f["uids"]) == (["root"], [0])


# -- unit and container matchers ---------------------------------------------------------------

CID = "a" * 64


def owned(port, unit=None, container=None):
    p = proc("app", 700)
    p["unit"] = unit
    p["container"] = {"id": container, "runtime": "docker"} if container else None
    return listener("tcp", "0.0.0.0", port, [p])


def test_unit_and_container_in_allow_entries():
    fx = new_facts([owned(80, unit="nginx.service"), owned(8080, unit="docker-x.scope", container=CID)], codes=())
    allow = [{"port": 80, "unit": "nginx.service"}, {"port": 8080, "container": "aaa*"}]
    pol = {"listeners": {"default": "deny", "allow": allow}}
    r = run(fx, pol)
    assert rules(r) == [] and r["verdict"] == "compliant"
    pol["listeners"]["allow"][0]["unit"] = "apache2.service"
    r = run(fx, pol)
    assert rules(r) == [("wrong-owner", "tcp 0.0.0.0:80")]
    f = r["findings"][0]
    assert f["expected"] == "unit apache2.service" and f["actual"] == "nginx.service" and f["units"] == ["nginx.service"]


def test_unit_in_deny_entries_and_waivers():
    fx = new_facts([owned(8080, unit="debug-shell.service")], codes=())
    pol = {"listeners": {"deny": [{"unit": "debug-*.service", "reason": "no debug shells"}]}}
    assert rules(run(fx, pol)) == [("forbidden-listener", "tcp 0.0.0.0:8080")]
    pol["waivers"] = [waiver({"unit": "debug-shell.service"}, "forbidden-listener")]
    assert run(fx, pol)["verdict"] == "compliant"
    other = new_facts([owned(8080, unit="sshd.service")], codes=())
    assert rules(run(other, {"listeners": {"deny": [{"unit": "debug-*.service"}]}})) == []


def test_container_rule_with_owner_unknown_is_incomplete():
    fx = new_facts([HIDDEN])
    pol = {"listeners": {"default": "deny", "allow": [{"port": 2024, "container": "aaa*"}]}}
    assert rules(run(fx, pol)) == [("incomplete-facts", "tcp 0.0.0.0:2024")]
