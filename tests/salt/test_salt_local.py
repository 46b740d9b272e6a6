# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Salt front end through real Salt (salt-call --local), on real sockets in network
namespaces: facts against `ss` and against the Ansible module, audits against the Ansible action,
the state, learn mode, the exit codes and the beacon."""

import json
import os
import subprocess
import textwrap

import pytest
import yaml

from netns_helpers import REPO, gather_via_ansible, run_playbook, ss_inet, ss_unix
from salt_helpers import SALT_BIN
from test_netstat_facts_vs_ss import UNIX_STATES, _inet_from_facts, _key

EXAMPLES = ["netaudit.netstat/default.yml"] + sorted(
    "netaudit.netstat/examples/" + f for f in os.listdir(os.path.join(REPO, "policies", "examples")) if f.endswith(".yml"))
TODAY = "2026-06-01"


def _finding(f):
    return (f["rule"], f["severity"], f["subject"], f.get("expected"), f.get("actual"), f.get("source"),
            json.dumps(f.get("waived"), sort_keys=True))


@pytest.fixture(scope="module")
def salt_facts(scenario_ns, minion):
    ns, info = scenario_ns
    rc, facts, err = minion.call(["netstat.facts", "connections=full", "unix=all"], ns=ns)
    assert rc == 0, err
    return ns, info, facts


def test_facts_agree_with_ss(salt_facts):
    ns, info, facts = salt_facts
    assert facts["collector"]["complete"] is True, facts["collector"]["reasons"]
    ours = _inet_from_facts(facts)
    theirs = ss_inet(ns)
    assert sorted(_key(s) for s in ours) == sorted(_key(s) for s in theirs)
    pids = dict((_key(s), sorted(p["pid"] for p in s["processes"])) for s in ours)
    for sock in theirs:
        assert pids[_key(sock)] == sock["pids"], sock
    unix = dict((s["inode"], s) for s in facts["unix"])
    ss_u = ss_unix(ns)
    assert sorted(unix) == sorted(s["inode"] for s in ss_u)
    for sock in ss_u:
        assert unix[sock["inode"]]["path"] == sock["path"]
        assert unix[sock["inode"]]["state"] == UNIX_STATES[sock["state"]]
    shared = [lst for lst in facts["listeners"] if lst["port"] == info["ports"]["tcp4_shared"]][0]
    assert [p["pid"] for p in shared["processes"]] == sorted([info["pid"]] + info["children"])


def test_facts_same_as_the_ansible_module(salt_facts):
    ns, info, facts = salt_facts
    ansible = gather_via_ansible(ns, [dict(connections="full", unix="all")])[0]

    def listeners(f):
        return sorted((lst["proto"], lst["address"], lst["port"], lst["state"], lst["inode"], lst["exposure"],
                       json.dumps(lst["processes"], sort_keys=True)) for lst in f["listeners"])

    assert listeners(facts) == listeners(ansible)
    assert sorted(json.dumps(u, sort_keys=True) for u in facts["unix"]) == sorted(
        json.dumps(u, sort_keys=True) for u in ansible["unix"])
    assert set(facts) == set(ansible)
    same = ("backend", "complete", "reasons", "netns_inode")
    assert dict((k, facts["collector"].get(k)) for k in same) == dict((k, ansible["collector"].get(k)) for k in same)
    for proto in ("udp", "unix"):
        assert facts["counts"][proto] == ansible["counts"][proto]
    assert facts["counts"]["tcp"]["LISTEN"] == ansible["counts"]["tcp"]["LISTEN"]


def test_facts_options_are_checked(minion):
    rc, out, err = minion.call(["netstat.facts", "connections=everything"])
    assert rc != 0
    assert "connections" in err and "everything" in err and "not one of" in err
    rc, out, err = minion.call(["netstat.facts", "protocol=tcp"])
    assert rc != 0 and "unknown option protocol" in err and "protocols" in err


def _ansible_audits(ns, policies):
    tasks = [{"netaudit.netstat.netstat_audit": {"policy": p, "today": TODAY}, "register": "r%d" % i, "ignore_errors": True}
             for i, p in enumerate(policies)]
    out = os.path.join(ns.tmpdir, "audits.json")
    tasks.append({"ansible.builtin.copy": {"content": "{{ [%s] | to_json }}" % ", ".join("r%d" % i for i in range(len(policies))),
                                           "dest": out}})
    play = [{"hosts": "all", "gather_facts": False, "tasks": tasks}]
    inventory = "%s ansible_connection=local ansible_python_interpreter=%s\n" % (ns.name, ns.interpreter())
    res = run_playbook(ns.tmpdir, yaml.safe_dump(play), inventory)
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    with open(out) as f:
        return json.load(f)


def test_audit_same_findings_as_the_ansible_action(scenario_ns, minion):
    ns, info = scenario_ns
    ansible = _ansible_audits(ns, EXAMPLES)
    for policy, theirs in zip(EXAMPLES, ansible):
        rc, ours, err = minion.call(["netstat.audit", "policy=%s" % policy, "today=%s" % TODAY], ns=ns)
        assert rc == {"compliant": 0, "drift": 1, "incomplete": 3}[theirs["verdict"]], (policy, err)
        assert ours["verdict"] == theirs["verdict"], policy
        assert ours["fails"] == theirs["fails"] == bool(theirs.get("failed")), policy
        assert ours["counts"] == theirs["counts"] and ours["summary"] == theirs["summary"]
        assert ours["policies"] == theirs["policies"]
        assert ours["policy_files"] == theirs["policy_files"] and ours["policy_files"][-1] == policy
        assert [_finding(f) for f in ours["findings"]] == [_finding(f) for f in theirs["findings"]], policy
        if policy != "netaudit.netstat/default.yml":
            assert ours["verdict"] == "drift" and ours["findings"], "the scenario drifts from every example: %s" % policy


def test_audit_exit_codes_and_verdicts(netns, minion, tmp_path):
    rc, learned, err = minion.call(["netstat.baseline", "name=learned", "dest=%s" % (tmp_path / "learned.yml")], ns=netns)
    assert rc == 0 and learned["changed"] is True, err
    assert yaml.safe_load((tmp_path / "learned.yml").read_text())["policy"] == "learned"
    # compliant: the namespace against what was learned from it
    rc, out, err = minion.call(["netstat.audit", "policy=%s" % (tmp_path / "learned.yml")], ns=netns)
    assert (rc, out["verdict"]) == (0, "compliant"), out
    # drift: a listener the policy does not allow
    proc, port = netns.start(["python3", "-c", textwrap.dedent("""
        import socket, sys
        s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
        print("READY", s.getsockname()[1], flush=True); sys.stdin.read()
    """)])
    rc, out, err = minion.call(["netstat.audit", "policy=%s" % (tmp_path / "learned.yml")], ns=netns)
    assert (rc, out["verdict"]) == (1, "drift"), out
    assert [f["subject"] for f in out["findings"] if f["rule"] == "unexpected-listener"] == ["tcp 127.0.0.1:%s" % port]
    assert any("unexpected-listener" in line for line in out["console"])
    # incomplete: root without the capabilities of the listener's owner cannot see who owns it
    # (the owner: a listener the policy allows, started by full root)
    proc.stdin.close()
    proc.wait(timeout=10)
    policy = yaml.safe_load((tmp_path / "learned.yml").read_text())
    policy["listeners"]["allow"].append({"proto": "tcp", "port": int(port), "bind": "loopback", "program": "python3"})
    (tmp_path / "more.yml").write_text(yaml.safe_dump(policy))
    netns.start(["python3", "-c", "import socket,sys; s=socket.socket(); "
                 "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
                 "s.bind(('127.0.0.1', %s)); s.listen(); print('READY', flush=True); sys.stdin.read()" % port])
    rc, out, err = minion.call(["netstat.audit", "policy=%s" % (tmp_path / "more.yml")], ns=netns)
    assert (rc, out["verdict"]) == (0, "compliant"), out
    rc, out, err = minion.call(["netstat.audit", "policy=%s" % (tmp_path / "more.yml")], ns=netns,
                               prefix=["setpriv", "--bounding-set", "-sys_ptrace,-net_admin", "--inh-caps", "-all", "--"])
    assert (rc, out["verdict"]) == (3, "incomplete"), out
    assert [f["subject"] for f in out["findings"] if f["rule"] == "incomplete-facts"] == ["tcp 127.0.0.1:%s" % port], out
    rc, out, err = minion.call(["netstat.audit", "policy=%s" % (tmp_path / "more.yml"), "allow_incomplete=true"], ns=netns,
                               prefix=["setpriv", "--bounding-set", "-sys_ptrace,-net_admin", "--inh-caps", "-all", "--"])
    assert (rc, out["verdict"]) == (0, "compliant"), out
    # could not audit: a policy error names the file and the line
    bad = tmp_path / "bad.yml"
    bad.write_text("policy: bad\nlisteners:\n  default: deny\n  alow: []\n")
    rc, out, err = minion.call(["netstat.audit", "policy=%s" % bad], ns=netns)
    assert (rc, out["verdict"]) == (4, "failed"), out
    assert "%s:4" % bad in out["error"] and "allow" in out["error"]
    rc, out, err = minion.call(["netstat.audit", "policy=salt://nowhere/missing.yml"], ns=netns)
    assert (rc, out["verdict"]) == (4, "failed") and "salt://nowhere/missing.yml" in out["error"]
    rc, out, err = minion.call(["netstat.audit", "fail_on=sometimes"], ns=netns)
    assert rc == 2 and "fail_on" in out["error"]


def test_audit_policy_from_the_file_server_with_extends(netns, minion):
    os.makedirs(os.path.join(minion.srv, "pol"), exist_ok=True)
    with open(os.path.join(minion.srv, "pol", "base.yml"), "w") as f:
        f.write("policy: base\nlisteners:\n  default: deny\n  deny:\n    - {proto: tcp, port: 23, reason: no telnet}\n")
    with open(os.path.join(minion.srv, "pol", "web.yml"), "w") as f:
        f.write("policy: web\nextends: [base.yml]\nlisteners:\n  allow:\n    - {proto: tcp, port: 80, required: true}\n")
    netns.start(["python3", "-c", "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', 23)); s.listen(); "
                 "print('READY', flush=True); sys.stdin.read()"])
    rc, out, err = minion.call(["netstat.audit", "policy=salt://pol/web.yml"], ns=netns)
    assert rc == 1, (out, err)
    rules = sorted((f["rule"], f["subject"], f["source"].rsplit(":", 1)[0]) for f in out["findings"])
    assert rules == [("forbidden-listener", "tcp 127.0.0.1:23", "pol/base.yml"),
                     ("missing-listener", "tcp port 80", "pol/web.yml")]
    assert out["policies"] == ["base", "web"]


def _state(minion, ns, policy, *extra):
    sls = os.path.join(minion.srv, "netaudit_check.sls")
    with open(sls, "w") as f:
        f.write(yaml.safe_dump({"sockets": {"netstat.compliant": [{"policy": str(policy)}]}}))
    rc, out, err = minion.call(["state.apply", "netaudit_check"] + list(extra), ns=ns)
    assert isinstance(out, dict) and len(out) == 1, (rc, out, err)
    return rc, list(out.values())[0]


def test_state_passes_fails_and_reports_in_test_mode(netns, minion, tmp_path):
    rc, learned, err = minion.call(["netstat.baseline", "dest=%s" % (tmp_path / "ok.yml")], ns=netns)
    assert rc == 0, err
    rc, ret = _state(minion, netns, tmp_path / "ok.yml")
    assert (rc, ret["result"], ret["changes"]) == (0, True, {}), ret
    assert ret["comment"].startswith("compliant")
    proc, port = netns.start(["python3", "-c", "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
                              "print('READY', s.getsockname()[1], flush=True); sys.stdin.read()"])
    rc, ret = _state(minion, netns, tmp_path / "ok.yml")
    assert rc != 0 and ret["result"] is False and ret["changes"] == {}, ret
    assert "unexpected-listener tcp 127.0.0.1:%s" % port in ret["comment"]
    rc, ret = _state(minion, netns, tmp_path / "ok.yml", "test=True")
    assert ret["result"] is None and ret["changes"] == {}, ret
    assert "test mode" in ret["comment"] and "unexpected-listener tcp 127.0.0.1:%s" % port in ret["comment"]


BEACON = textwrap.dedent("""
    import json, sys
    import salt.config, salt.loader
    opts = salt.config.minion_config(sys.argv[1])
    utils = salt.loader.utils(opts)
    funcs = salt.loader.minion_mods(opts, utils=utils)
    beacons = salt.loader.beacons(opts, funcs)
    config = json.loads(sys.argv[2])
    ok, why = beacons["netstat.validate"](config)
    print(json.dumps({"valid": ok, "why": why}), flush=True)
    for line in sys.stdin:
        print(json.dumps(beacons["netstat.beacon"](config)), flush=True)
""")


def test_beacon_fires_on_a_new_listener_and_a_verdict_change(netns, minion, tmp_path):
    rc, learned, err = minion.call(["netstat.baseline", "dest=%s" % (tmp_path / "ok.yml")], ns=netns)
    assert rc == 0, err
    config = [{"interval": 1}, {"policy": str(tmp_path / "ok.yml")}]
    beacon = subprocess.Popen(netns.cmd([os.path.join(SALT_BIN, "python"), "-c", BEACON, os.path.join(minion.conf, "minion"),
                                         json.dumps(config)]), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    netns.procs.append(beacon)

    def tick():
        beacon.stdin.write("\n")
        beacon.stdin.flush()
        return json.loads(beacon.stdout.readline())

    assert json.loads(beacon.stdout.readline())["valid"] is True
    assert tick() == []  # the first run records what is there
    assert tick() == []  # nothing changed
    proc, port = netns.start(["python3", "-c", "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
                              "print('READY', s.getsockname()[1], flush=True); sys.stdin.read()"])
    events = tick()
    assert [e["tag"] for e in events] == ["listener/new", "verdict"], events
    assert events[0]["listener"]["port"] == int(port) and events[0]["listener"]["programs"] == ["python3"]
    assert (events[1]["previous"], events[1]["verdict"]) == ("compliant", "drift")
    assert [f["rule"] for f in events[1]["findings"]] == ["unexpected-listener"]
    assert tick() == []
    proc.stdin.close()
    proc.wait(timeout=10)
    events = tick()
    assert [e["tag"] for e in events] == ["listener/gone", "verdict"], events
    assert events[1]["verdict"] == "compliant"
