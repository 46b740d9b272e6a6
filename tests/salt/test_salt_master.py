# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real salt-master and salt-minions on the loopback of a test network namespace (their own
configuration, root_dir, keys and ports under a temporary directory): the collection synced to
the minions through the master's file_roots, `salt '*' netstat.audit` into the fleet reports
with an unresponsive minion among them, the netstat.report runner, and the beacon's event
arriving on the master's bus."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from netns_helpers import REPO
from salt_helpers import SALT_BIN, SALT_FILE_ROOT, require_salt, wait_for, write_config

MINIONS = ("m1", "m2", "m3")  # m3 answers once, then stops: unreachable in the reports


class Fleet:
    def __init__(self, ns, base):
        self.ns = ns
        self.base = base
        self.master_conf = os.path.join(base, "master", "etc")
        self.srv = os.path.join(base, "srv")
        os.makedirs(self.srv)
        write_config(self.master_conf, "master", (
            "root_dir: %s\ninterface: 127.0.0.1\nauto_accept: true\nfile_roots:\n  base:\n    - %s\n    - %s\n"
            "fileserver_list_cache_time: 0\nlog_level_logfile: warning\ntimeout: 20\ngather_job_timeout: 2\n"
        ) % (os.path.join(base, "master", "root"), SALT_FILE_ROOT, self.srv))
        self.minion_procs = {}

    def start(self, argv):
        log = open(os.path.join(self.base, os.path.basename(argv[0]) + "-%d.log" % len(self.ns.procs)), "w")
        proc = subprocess.Popen(self.ns.cmd(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        self.ns.procs.append(proc)
        return proc

    def start_master(self):
        self.start([os.path.join(SALT_BIN, "salt-master"), "-c", self.master_conf, "-l", "warning"])
        wait_for(lambda: "127.0.0.1:4506" in self.ns.run(["ss", "-ltn"]).stdout, 90, what="salt-master on 127.0.0.1:4506")

    def start_minion(self, mid, extra=""):
        conf = os.path.join(self.base, mid, "etc")
        write_config(conf, "minion", (
            "id: %s\nmaster: 127.0.0.1\nroot_dir: %s\nlog_level_logfile: warning\nacceptance_wait_time: 1\n%s"
        ) % (mid, os.path.join(self.base, mid, "root"), extra))
        self.minion_procs[mid] = self.start([os.path.join(SALT_BIN, "salt-minion"), "-c", conf, "-l", "warning"])

    def run(self, tool, args, timeout=120):
        argv = [os.path.join(SALT_BIN, tool), "-c", self.master_conf, "--no-color"] + list(args)
        return self.ns.run(argv, timeout=timeout)

    def salt_json(self, args, timeout=120):
        res = self.run("salt", list(args) + ["--out", "json", "--static"], timeout=timeout)
        try:
            return res.returncode, json.loads(res.stdout), res
        except ValueError:
            return res.returncode, None, res


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    from netns_fixtures import require_netns
    from netns_helpers import Netns

    require_salt()
    require_netns()
    ns = Netns(prefix="nasalt")
    try:
        f = Fleet(ns, str(tmp_path_factory.mktemp("salt-fleet")))
        f.start_master()
        f.start_minion("m1", "beacons:\n  netstat:\n    - interval: 1\n")
        f.start_minion("m2")
        f.start_minion("m3")

        def all_answer():
            rc, out, res = f.salt_json(["*", "test.ping", "-t", "10"])
            return out if out and all(out.get(m) is True for m in MINIONS) else None

        wait_for(all_answer, 120, interval=2, what="m1, m2 and m3 to answer test.ping")
        m3 = f.minion_procs["m3"]
        m3.terminate()
        m3.wait(timeout=30)
        rc, out, res = f.salt_json(["m1,m2", "-L", "saltutil.sync_all"])
        assert rc == 0 and all("modules.netstat" in out[m]["modules"] for m in ("m1", "m2")), res.stdout + res.stderr
        res = f.run("salt-run", ["saltutil.sync_all", "--out", "json"])
        assert res.returncode == 0 and "runners.netstat" in res.stdout, res.stdout + res.stderr
        yield f
    finally:
        for proc in ns.procs:  # the daemons do not read stdin: stop them, then the namespace goes
            if proc.poll() is None:
                proc.terminate()
        for proc in ns.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        ns.delete()


def _model(directory):
    with open(os.path.join(directory, "report.json")) as f:
        return json.load(f)


def test_salt_audit_output_into_the_fleet_reports(fleet, tmp_path):
    # --out json without --static: one document a minion, the ones that did not answer included
    # (with --static, Salt leaves those out: then --minions names the targeted ones)
    res = fleet.run("salt", ["*", "netstat.audit", "policy=netaudit.netstat/examples/webserver.yml", "-t", "8", "--out", "json"])
    returns = tmp_path / "returns.json"
    returns.write_text(res.stdout)
    rc, static, res_static = fleet.salt_json(["*", "netstat.audit", "policy=netaudit.netstat/examples/webserver.yml", "-t", "8"])
    assert sorted(static) == ["m1", "m2"], res_static.stdout + res_static.stderr
    (tmp_path / "static.json").write_text(res_static.stdout)
    (tmp_path / "minions.json").write_text(fleet.run("salt-key", ["--list", "accepted", "--out", "json"]).stdout)
    out = dict(static)
    assert out["m1"]["verdict"] == out["m2"]["verdict"] == "drift"  # a namespace with salt, no web server
    models = []
    runs = (
        ("reports", [str(returns)]),
        ("static-reports", [str(tmp_path / "static.json"), "--minions", str(tmp_path / "minions.json")]),
    )
    for name, argv in runs:
        dest = tmp_path / name
        proc = subprocess.run([sys.executable, os.path.join(REPO, "scripts", "salt-report.py"), "--dest", str(dest)] + argv,
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 4, proc.stdout + proc.stderr  # a minion could not be audited
        assert "3 minions" in proc.stdout and "1 unreachable" in proc.stdout, proc.stdout
        models.append(_model(dest))
    assert [h["verdict"] for h in models[0]["hosts"]] == [h["verdict"] for h in models[1]["hosts"]]
    dest = tmp_path / "reports"
    model = models[0]
    hosts = dict((h["host"], h) for h in model["hosts"])
    assert sorted(hosts) == list(MINIONS)
    assert hosts["m1"]["verdict"] == hosts["m2"]["verdict"] == "drift"
    assert [f["rule"] for f in hosts["m1"]["findings"]] == [f["rule"] for f in out["m1"]["findings"]]
    assert hosts["m1"]["facts"]["backend"] == out["m1"]["facts_summary"]["backend"]
    assert hosts["m3"]["verdict"] == "unreachable" and "did not return" in hosts["m3"]["error"]
    assert model["verdict"] == "unreachable" and model["summary"]["hosts"] == 3
    cases = ET.parse(str(dest / "junit.xml")).getroot().iter("testcase")
    assert {c.get("classname").split(".")[-1] for c in cases} >= set(MINIONS)
    for name in ("report.md", "report.html", "report.sarif"):
        text = (dest / name).read_text()
        assert all(m in text for m in MINIONS), name


def test_runner_writes_the_reports_of_the_targeted_minions(fleet, tmp_path):
    dest = tmp_path / "runner-reports"
    res = fleet.run("salt-run", ["netstat.report", "tgt=*", "policy=netaudit.netstat/default.yml", "dest=%s" % dest,
                                 "timeout=8", "--out", "json"])
    out = json.loads(res.stdout)
    assert out["hosts"]["m3"] == "unreachable", out
    assert res.returncode == out["retcode"] == 4, (res.returncode, out)  # a minion could not be audited
    assert out["hosts"]["m1"] in ("compliant", "incomplete", "drift") and out["hosts"]["m1"] == out["hosts"]["m2"]
    assert sorted(os.path.basename(p) for p in out["reports"].values()) == sorted(
        ["report.json", "junit.xml", "report.md", "report.html", "report.sarif"])
    model = _model(dest)
    assert sorted(h["host"] for h in model["hosts"]) == list(MINIONS)
    assert model["summary"]["unreachable"] == 1


def test_beacon_event_reaches_the_master(fleet):
    watcher = subprocess.Popen(
        fleet.ns.cmd([os.path.join(SALT_BIN, "salt-run"), "-c", fleet.master_conf, "state.event",
                      "tagmatch=salt/beacon/m1/netstat/listener/new", "count=1", "--out", "json"]),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    fleet.ns.procs.append(watcher)
    try:
        # the beacon first records what listens; the watcher connects to the bus meanwhile
        import time

        time.sleep(5)
        proc, port = fleet.ns.start(["python3", "-c", "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1', 0)); "
                                     "s.listen(); print('READY', s.getsockname()[1], flush=True); sys.stdin.read()"])
        out, _err = watcher.communicate(timeout=90)
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert "salt/beacon/m1/netstat/listener/new" in out, out
    assert '"port": %s' % port in out and '"new-listener"' in out, out
