# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet audit end to end: six network-namespace hosts running different services plus one
unreachable host, `ansible-playbook netaudit.netstat.audit` with forks and the netstat_report
callback, and every report checked: seven hosts each, the unreachable one marked, the findings
the policies imply, the JUnit XML valid against Jenkins' schema, the HTML rendered in headless
Chromium with its charts visible (screenshot in tests/output/fleet-report.png). Then learn mode:
the baseline learned from a host audits it clean and flags a listener added afterwards.
"""

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netns_fixtures import require_netns  # noqa: E402
from netns_helpers import PYTHON, REPO, Netns, ansible_env  # noqa: E402

SERVICE = os.path.join(REPO, "tests", "integration", "fleet_service.py")
ANSIBLE_PLAYBOOK = os.path.join(REPO, ".venv", "bin", "ansible-playbook")
XSD = os.path.join(REPO, "tests", "unit", "fixtures", "junit", "jenkins-junit.xsd")
OUTPUT = os.path.join(REPO, "tests", "output")

HOSTILE_NAME = "<b>|`x`]]>\x1b"  # a process name (comm: at most 15 bytes)
HOSTILE_ARGS = ["<script>alert(1)</script>", "]]>", "| `id` |", "\x01\x02\x7f", "A" * 5000]

# host -> services: (program, [(proto, address, port), ...])
SSHD = ("sshd", [("tcp", "0.0.0.0", 22), ("tcp", "::", 22)])
NGINX = ("nginx", [("tcp", "0.0.0.0", 80), ("tcp", "0.0.0.0", 443)])
CHRONYD = ("chronyd", [("udp", "127.0.0.1", 323)])
STRAY = ("python3", [("tcp", "0.0.0.0", 8080)])
FLEET = {
    "h1": [SSHD, NGINX, CHRONYD],
    "h2": [SSHD, NGINX, CHRONYD],
    "h3": [SSHD, NGINX, CHRONYD, STRAY],
    "h4": [SSHD, ("nginx", [("tcp", "0.0.0.0", 80)]), CHRONYD, STRAY],
    "h5": [SSHD, ("postgres", [("tcp", "127.0.0.1", 5432)]), (HOSTILE_NAME, [("tcp", "127.0.0.1", 9999)])],
    "h6": [SSHD, ("postgres", [("tcp", "0.0.0.0", 5432)])],
}
GROUPS = {"web": ["h1", "h2", "h3", "h4"], "db": ["h5", "h6"]}

# What the policies below imply, per host: (rule, subject) of every finding.
EXPECTED = {
    "h1": set(),
    "h2": set(),
    "h3": {("unexpected-listener", "tcp 0.0.0.0:8080")},
    "h4": {("unexpected-listener", "tcp 0.0.0.0:8080"), ("missing-listener", "tcp port 443")},
    "h5": {("unexpected-listener", "tcp 127.0.0.1:9999")},
    "h6": {("wrong-bind", "tcp 0.0.0.0:5432")},
}

POLICIES = {
    "base.yml": """\
        policy: base
        listeners:
          default: deny
          allow:
            - {proto: tcp, port: 22, program: sshd, required: true}
        """,
    "web.yml": """\
        policy: web
        extends: base.yml
        listeners:
          allow:
            - {proto: tcp, port: [80, 443], program: nginx, required: true}
            - {proto: udp, port: 323, bind: loopback, program: chronyd}
        """,
    "db.yml": """\
        policy: db
        extends: base.yml
        listeners:
          allow:
            - {proto: tcp, port: 5432, bind: loopback, program: postgres, required: true}
        """,
}


def _start(ns, program, sockets, extra=()):
    argv = [PYTHON, SERVICE, program, json.dumps(sockets)] + list(extra)
    proc, _rest = ns.start(argv)
    return proc


@pytest.fixture(scope="module")
def fleet():
    require_netns()
    hosts = {}
    try:
        for host, services in FLEET.items():
            ns = hosts[host] = Netns(prefix="na-" + host)
            for program, sockets in services:
                _start(ns, program, sockets, HOSTILE_ARGS if program == HOSTILE_NAME else ())
        yield hosts
    finally:
        for ns in hosts.values():
            ns.delete()


def inventory(fleet, groups=None, unreachable=True):
    lines = []
    for group, members in (groups or GROUPS).items():
        lines.append("[%s]" % group)
        for host in members:
            lines.append("%s ansible_connection=local ansible_python_interpreter=%s" % (host, fleet[host].interpreter()))
        lines.append("")
    if unreachable:
        lines.append("[gone]")
        lines.append(
            "h7 ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh ansible_ssh_common_args='-o ConnectTimeout=5'"
        )
        lines.append("")
    return "\n".join(lines)


def audit(workdir, inventory_text, *args, report_dir="reports"):
    path = os.path.join(workdir, "inventory.ini")
    with open(path, "w") as f:
        f.write(inventory_text)
    env = ansible_env(
        {
            "ANSIBLE_CALLBACKS_ENABLED": "netaudit.netstat.netstat_report",
            "NETAUDIT_REPORT_DIR": os.path.join(workdir, report_dir),
        }
    )
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", path, "netaudit.netstat.audit", "-f", "7"] + list(args),
        capture_output=True,
        text=True,
        env=env,
        cwd=workdir,
        timeout=600,
        check=False,
    )


def write_policies(workdir):
    os.makedirs(os.path.join(workdir, "policies"), exist_ok=True)
    for name, text in POLICIES.items():
        with open(os.path.join(workdir, "policies", name), "w") as f:
            f.write(textwrap.dedent(text))


def _png_reader():
    path = os.path.join(REPO, "tests", "unit", "plugins", "plugin_utils", "test_report_chromium.py")
    spec = importlib.util.spec_from_file_location("_report_chromium_helpers", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fleet_audit_reports(fleet, tmp_path):
    workdir = str(tmp_path)
    write_policies(workdir)
    inv = inventory(fleet)
    inv += "[web:vars]\nnetaudit_policies=['policies/web.yml']\n\n[db:vars]\nnetaudit_policies=['policies/db.yml']\n"
    proc = audit(workdir, inv)
    log = proc.stdout[-6000:] + proc.stderr[-3000:]
    assert proc.returncode != 0, log  # drift and an unreachable host fail the run
    # the fact-cache play has no host without netaudit_cache_facts, and says so without a warning
    assert "Could not match supplied host pattern" not in proc.stdout + proc.stderr, log
    assert "skipping: no hosts matched" in proc.stdout, log
    reports = tmp_path / "reports"
    assert sorted(os.listdir(reports)) == [".sets", "junit.xml", "latest", "report.html", "report.json", "report.md",
                                           "report.sarif"], log
    # one set, switched to in one step: every name goes through `latest`
    assert all(os.readlink(reports / n) == "latest/" + n for n in ("junit.xml", "report.html", "report.json", "report.md"))

    # report.json: seven hosts, the unreachable one marked, the findings the policies imply
    report = json.loads((reports / "report.json").read_text())
    hosts = {h["host"]: h for h in report["hosts"]}
    assert sorted(hosts) == ["h1", "h2", "h3", "h4", "h5", "h6", "h7"], log
    assert hosts["h7"]["status"] == "unreachable" and hosts["h7"]["compliant"] is False
    assert "Connection refused" in hosts["h7"]["error"] or "connect" in hosts["h7"]["error"]
    for host, expected in EXPECTED.items():
        got = {(f["rule"], f["subject"]) for f in hosts[host]["findings"]}
        assert got == expected, (host, hosts[host]["findings"])
        assert hosts[host]["status"] == "ok"
        assert hosts[host]["verdict"] == ("compliant" if not expected else "drift")
        assert hosts[host]["facts"]["backend"] in ("netlink", "procfs", "psutil")
        assert hosts[host]["facts"]["complete"] is True
    assert report["summary"]["unreachable"] == 1 and report["summary"]["compliant"] == 2
    stray = [g for g in report["drift"] if g["label"] == "tcp 0.0.0.0:8080 python3"]
    assert stray and stray[0]["hosts"] == ["h3", "h4"] and (stray[0]["count"], stray[0]["total"]) == (2, 6)
    hostile = [f for f in hosts["h5"]["findings"] if f["subject"] == "tcp 127.0.0.1:9999"][0]
    assert HOSTILE_NAME in hostile["actual"]  # verbatim in the JSON

    # report.sarif: valid SARIF 2.1.0, one result per finding, each on its policy's file and line
    import jsonschema

    with open(os.path.join(REPO, "tests", "unit", "fixtures", "sarif", "sarif-2.1.0-rtm.5.json")) as f:
        sarif_schema = json.load(f)
    sarif = json.loads((reports / "report.sarif").read_text())
    jsonschema.Draft4Validator(sarif_schema).validate(sarif)
    results = sarif["runs"][0]["results"]
    assert sorted((r["properties"]["host"], r["ruleId"], r["properties"]["subject"]) for r in results) == sorted(
        (h, rule, subject) for h, exp in EXPECTED.items() for rule, subject in exp)
    for r in results:
        uri = r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert uri.startswith("policies/") and uri.endswith(".yml"), uri
    assert [n["descriptor"]["id"] for n in sarif["runs"][0]["invocations"][0]["toolExecutionNotifications"]] == [
        "host-unreachable"]

    # junit.xml: valid for Jenkins, one error for the unreachable host, failures for drift
    etree = pytest.importorskip("lxml.etree")
    schema = etree.XMLSchema(etree.parse(XSD))
    junit = etree.parse(str(reports / "junit.xml"))
    schema.assertValid(junit)
    cases = junit.findall(".//testcase")
    by_host = {}
    for case in cases:
        by_host.setdefault(case.get("name").split("]")[0].lstrip("["), []).append(case)
    assert sorted(by_host) == ["h1", "h2", "h3", "h4", "h5", "h6", "h7"]
    assert by_host["h7"][0].find("error") is not None
    assert [c.get("name") for c in by_host["h1"]] == ["[h1] compliant"]
    failing = sorted(c.get("name") for c in cases if c.find("failure") is not None)
    assert failing == [
        "[h3] unexpected-listener",
        "[h4] missing-listener",
        "[h4] unexpected-listener",
        "[h5] unexpected-listener",
        "[h6] wrong-bind",
    ]

    # report.md: every host, escaped
    md = (reports / "report.md").read_text()
    for host in hosts:
        assert "| %s |" % host in md
    assert "UNREACHABLE" in md
    assert "<b>" not in md and "&lt;b&gt;" in md and "\\x1b" in md
    assert "tcp 0.0.0.0:8080 python3 | on 2/6 hosts" in md

    # report.html: self-contained, escaped, one chart per host; rendered by Chromium
    html_text = (reports / "report.html").read_text()
    assert "<b>|" not in html_text and "&lt;b&gt;|" in html_text
    assert "on 2/6 hosts" in html_text
    assert html_text.count('class="card host"') == 7
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        if os.environ.get("NETAUDIT_WITH_CHROMIUM") == "1":
            pytest.fail("NETAUDIT_WITH_CHROMIUM=1 but Chromium is not installed (scripts/setup.sh installs it)")
        pytest.skip("Chromium is not installed (NETAUDIT_WITH_CHROMIUM=1 scripts/setup.sh): the HTML was checked, not rendered")
    helpers = _png_reader()
    shot = tmp_path / "fleet.png"
    res = helpers.chromium(
        "--screenshot=" + str(shot), "--window-size=1280,1800", "file://" + str(reports / "report.html"), cwd=workdir
    )
    assert shot.exists(), res.stderr
    os.makedirs(OUTPUT, exist_ok=True)
    shutil.copy(str(shot), os.path.join(OUTPUT, "fleet-report.png"))
    _w, _h, rows = helpers.read_png(str(shot))
    assert helpers.count_colour(rows, helpers.ERROR_RGB) > 500  # the red error bars are drawn
    dom = helpers.chromium("--dump-dom", "file://" + str(reports / "report.html"), cwd=workdir).stdout
    assert "<title>Socket audit report</title>" in dom and "<script" not in dom


def test_baseline_audits_clean_then_flags_new_listener(fleet, tmp_path):
    workdir = str(tmp_path)
    inv = inventory(fleet, groups={"golden": ["h1"]}, unreachable=False)
    path = os.path.join(workdir, "inventory.ini")
    with open(path, "w") as f:
        f.write(inv)
    learn = subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", path, "netaudit.netstat.baseline", "-e", "netaudit_baseline_dir=learned"],
        capture_output=True,
        text=True,
        env=ansible_env(),
        cwd=workdir,
        timeout=600,
        check=False,
    )
    assert learn.returncode == 0, learn.stdout[-4000:] + learn.stderr[-2000:]
    learned = (tmp_path / "learned" / "h1.yml").read_text()
    assert "program: sshd" in learned and "program: nginx" in learned and "bind: loopback" in learned

    policies = ["-e", 'netaudit_policies=["learned/h1.yml"]']
    clean = audit(workdir, inv, *policies)
    assert clean.returncode == 0, clean.stdout[-4000:] + clean.stderr[-2000:]
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert [(h["host"], h["verdict"], h["findings"]) for h in report["hosts"]] == [("h1", "compliant", [])]

    extra = _start(fleet["h1"], "python3", [("tcp", "0.0.0.0", 8081)])
    try:
        drift = audit(workdir, inv, *policies)
    finally:
        extra.stdin.close()
        extra.wait(timeout=10)
    assert drift.returncode != 0
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    findings = report["hosts"][0]["findings"]
    assert [(f["rule"], f["subject"]) for f in findings] == [("unexpected-listener", "tcp 0.0.0.0:8081")]


# ---------------------------------------------------------------- fleet views (issue 15)

MERGE = os.path.join(REPO, "scripts", "merge-reports.py")


def _fleet_inventory(fleet, hosts=None, unreachable=True):
    inv = inventory(fleet, groups={g: [h for h in m if hosts is None or h in hosts] for g, m in GROUPS.items()},
                    unreachable=unreachable)
    return inv + "[web:vars]\nnetaudit_policies=['policies/web.yml']\n\n[db:vars]\nnetaudit_policies=['policies/db.yml']\n"


def _without_run_metadata(text, model):
    """A report's text with what only says when and how it was made blanked out."""
    for key in ("generated",):
        if model.get(key):
            text = text.replace(model[key], "GENERATED")
    for host in model["hosts"]:
        when = (host.get("facts") or {}).get("gathered_at")
        if when:
            text = text.replace(when, "GATHERED")
    return text


def test_slices_merge_into_the_unsliced_report(fleet, tmp_path):
    workdir = str(tmp_path)
    write_policies(workdir)
    full = audit(workdir, _fleet_inventory(fleet), report_dir="full")
    assert "h7" in full.stdout
    slice_a = audit(workdir, _fleet_inventory(fleet, hosts=["h1", "h2", "h3"], unreachable=False), report_dir="a")
    slice_b = audit(workdir, _fleet_inventory(fleet, hosts=["h3", "h4", "h5", "h6"]), report_dir="b")
    assert slice_a.returncode != 0 and slice_b.returncode != 0  # both hold drift
    hosts_file = tmp_path / "hosts.txt"
    hosts_file.write_text("\n".join(["h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"]) + "\n")
    res = subprocess.run([PYTHON, MERGE, "--dest", str(tmp_path / "merged"), "--hosts-file", str(hosts_file),
                          str(tmp_path / "a"), str(tmp_path / "b" / "report.json")],
                         capture_output=True, text=True, check=False)
    assert res.returncode == 4, res.stdout + res.stderr  # h7 unreachable, h8 not audited
    merged = json.loads((tmp_path / "merged" / "report.json").read_text())
    dup = {"host": "h3", "kept": str(tmp_path / "b" / "report.json"), "dropped": [str(tmp_path / "a" / "report.json")]}
    assert merged["merged"]["duplicates"] == [dup]
    assert merged["merged"]["not_audited"] == ["h8"]
    h8 = [h for h in merged["hosts"] if h["host"] == "h8"][0]
    assert h8["verdict"] == "failed" and "not audited" in h8["error"]
    # without h8 (the inventory of the unsliced run), the report files are the unsliced run's, apart
    # from the run metadata
    res = subprocess.run([PYTHON, MERGE, "--dest", str(tmp_path / "merged2"), str(tmp_path / "a"), str(tmp_path / "b")],
                         capture_output=True, text=True, check=False)
    merged = json.loads((tmp_path / "merged2" / "report.json").read_text())
    unsliced = json.loads((tmp_path / "full" / "report.json").read_text())
    for name in ("report.json", "junit.xml", "report.md", "report.html"):
        ours = (tmp_path / "merged2" / name).read_text()
        theirs = (tmp_path / "full" / name).read_text()
        if name == "report.json":
            a, b = json.loads(ours), json.loads(theirs)
            for d in (a, b):
                d.pop("generated"), d.pop("playbook", None), d.pop("merged", None)
                for h in d["hosts"]:
                    if h.get("facts"):
                        h["facts"].pop("gathered_at", None)
            assert a == b
        else:
            ours = _without_run_metadata(ours, merged)
            theirs = _without_run_metadata(theirs, unsliced)
            if unsliced.get("playbook"):
                # "Generated ... by playbook PATH" (Markdown, HTML) and the JUnit property
                theirs = re.sub(r" by playbook .*?(?=\.\n|</p>)", "", theirs)
                theirs = "".join(line for line in theirs.splitlines(True) if unsliced["playbook"] not in line)
            assert ours == theirs, name
    # the same through Ansible: the merge playbook, the fleet from the inventory
    inv = tmp_path / "inv.ini"
    inv.write_text(_fleet_inventory(fleet) + "[extra]\nh8\n")
    res = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(inv), "netaudit.netstat.merge_reports", "-e",
                          json.dumps({"netaudit_slices": [str(tmp_path / "a"), str(tmp_path / "b")],
                                      "netaudit_report_dir": str(tmp_path / "merged3")})],
                         capture_output=True, text=True, env=ansible_env(), cwd=workdir, check=False)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert "8 hosts from 2 slice(s), 1 reported twice, 1 not audited" in res.stdout
    third = json.loads((tmp_path / "merged3" / "report.json").read_text())
    assert [h["host"] for h in third["hosts"]] == ["h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8"]


def test_reaudit_from_the_fact_cache_without_connecting(fleet, tmp_path):
    workdir = str(tmp_path)
    write_policies(workdir)
    cache = tmp_path / "cache"
    env_cache = {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(cache)}
    inv = _fleet_inventory(fleet, unreachable=False)
    path = tmp_path / "inventory.ini"
    path.write_text(inv)
    env = ansible_env(dict(env_cache, ANSIBLE_CALLBACKS_ENABLED="netaudit.netstat.netstat_report",
                           NETAUDIT_REPORT_DIR=str(tmp_path / "first")))
    first = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(path), "netaudit.netstat.audit", "-f", "6", "-e",
                            "netaudit_cache_facts=true"], capture_output=True, text=True, env=env, cwd=workdir, check=False)
    assert sorted(n.rsplit("_", 1)[-1] for n in os.listdir(cache)) == ["h1", "h2", "h3", "h4", "h5", "h6"], first.stdout[-3000:]
    # the hosts that drift are cached and still fail the run (in the playbook's last play)
    assert first.returncode == 2, first.stdout[-3000:]
    failed = sorted(line.split()[0] for line in first.stdout.splitlines() if re.match(r"h\d +: ok=.* failed=1 ", line))
    assert failed == ["h3", "h4", "h5", "h6"], first.stdout[-3000:]
    # the hosts now unreachable by design: any connection attempt runs this "ssh", which leaves a mark
    marker = tmp_path / "connected"
    fake_ssh = tmp_path / "ssh"
    fake_ssh.write_text("#!/bin/sh\necho \"$@\" >> %s\nexit 255\n" % marker)
    fake_ssh.chmod(0o755)
    lines = []
    for line in inv.splitlines():
        if line.startswith("h") and "ansible_connection=local" in line:
            host = line.split()[0]
            line = "%s ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=1 ansible_ssh_executable=%s" % (host, fake_ssh)
        lines.append(line)
    path.write_text("\n".join(lines) + "\n[extra]\nh8 ansible_connection=ssh ansible_ssh_executable=%s\n" % fake_ssh)
    # a changed policy: 8080 is now allowed on the web hosts
    with open(os.path.join(workdir, "policies", "web.yml"), "a") as f:
        f.write("    - {proto: tcp, port: 8080, program: python3}\n")
    env = ansible_env(dict(env_cache, ANSIBLE_CALLBACKS_ENABLED="netaudit.netstat.netstat_report",
                           NETAUDIT_REPORT_DIR=str(tmp_path / "again")))
    res = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(path), "netaudit.netstat.reaudit", "-f", "6"], capture_output=True,
                         text=True, env=env, cwd=workdir, check=False)
    assert not marker.exists(), "the re-audit connected to a host: %s" % marker.read_text()
    report = json.loads((tmp_path / "again" / "report.json").read_text())
    hosts = {h["host"]: h for h in report["hosts"]}
    assert sorted(hosts) == ["h1", "h2", "h3", "h4", "h5", "h6", "h8"], res.stdout[-3000:]
    assert {(f["rule"], f["subject"]) for f in hosts["h3"]["findings"]} == set()  # the changed policy
    assert {(f["rule"], f["subject"]) for f in hosts["h4"]["findings"]} == {("missing-listener", "tcp port 443")}
    assert hosts["h8"]["verdict"] == "failed" and "no ansible_facts.netstat" in hosts["h8"]["error"]
    assert hosts["h1"]["facts"]["gathered_at"]  # how old the facts are: when they were gathered
    # facts older than the limit make the host incomplete
    import time

    time.sleep(2)
    env["NETAUDIT_REPORT_DIR"] = str(tmp_path / "stale")
    res = subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(path), "netaudit.netstat.reaudit", "-f", "6", "-l", "h1,h2",
                          "-e", "netaudit_max_facts_age=1s"], capture_output=True, text=True, env=env, cwd=workdir, check=False)
    assert not marker.exists()
    report = json.loads((tmp_path / "stale" / "report.json").read_text())
    assert [h["verdict"] for h in report["hosts"]] == ["incomplete", "incomplete"], res.stdout[-3000:]
    f = report["hosts"][0]["findings"][0]
    assert (f["rule"], f["subject"], f["cause"]) == ("incomplete-facts", "facts age", "stale")
    assert "gathered" in f["actual"] and "ago" in f["actual"]


def test_changes_since_the_last_run_and_progress(fleet, tmp_path):
    workdir = str(tmp_path)
    write_policies(workdir)
    inv = _fleet_inventory(fleet, unreachable=False)
    first = audit(workdir, inv, report_dir="reports")
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["changes"]["previous"] is None and report["changes"]["new"] == 5
    # h3's stray listener goes away, h2 gets one; a waiver that expires in 5 days covers h6
    stray = [p for p in fleet["h3"].procs if p.poll() is None][-1]
    stray.kill()
    stray.wait()
    new_stray = _start(fleet["h2"], "python3", [("tcp", "0.0.0.0", 8081)])
    import datetime

    soon = (datetime.date.today() + datetime.timedelta(days=5)).isoformat()
    with open(os.path.join(workdir, "policies", "db.yml"), "a") as f:
        f.write("waivers:\n  - {rule: wrong-bind, match: {port: 5432}, reason: DB-7, expires: %s}\n" % soon)
    env_progress = {"NETAUDIT_REPORT_PROGRESS_EVERY": "2"}
    path = os.path.join(workdir, "inventory.ini")
    env = ansible_env(dict(env_progress, ANSIBLE_CALLBACKS_ENABLED="netaudit.netstat.netstat_report",
                           NETAUDIT_REPORT_DIR=os.path.join(workdir, "reports")))
    second = subprocess.run([ANSIBLE_PLAYBOOK, "-i", path, "netaudit.netstat.audit", "-f", "6"], capture_output=True,
                            text=True, env=env, cwd=workdir, check=False)
    try:
        report = json.loads((tmp_path / "reports" / "report.json").read_text())
        ch = report["changes"]
        hosts = {h["host"]: h for h in report["hosts"]}
        new_findings = sorted((h, f["rule"]) for h in hosts for f in hosts[h]["findings"] if f.get("change") == "new")
        # the stray on h2; and the waiver, used on h6, is unused on h5 (same policy): said so
        assert new_findings == [("h2", "unexpected-listener"), ("h5", "unused-waiver")], new_findings
        assert ch["previous"] is not None and (ch["new"], ch["resolved"]) == (2, 1), ch
        (new,) = [f for f in hosts["h2"]["findings"] if f.get("change") == "new"]
        assert new["subject"] == "tcp 0.0.0.0:8081"
        assert hosts["h3"]["changes"]["resolved"][0]["subject"] == "tcp 0.0.0.0:8080"
        still = [f for f in hosts["h4"]["findings"] if f["subject"] == "tcp 0.0.0.0:8080"][0]
        assert still["change"] == "open" and still["first_seen"] == report_first_day(first, tmp_path)
        assert [w["host"] for w in ch["waivers_expiring"]] == ["h6"] and ch["waivers_expiring"][0]["days"] == 5
        md = (tmp_path / "reports" / "report.md").read_text()
        assert md.index("## What changed") < md.index("## Summary")
        assert "2 new, 3 still open, 1 resolved" in md
        assert "Waivers about to expire" in md
        # progress in the form Ansible users know, not a flood: every 2 hosts of 6
        lines = [line for line in second.stdout.splitlines() if "hosts audited" in line]
        assert lines == ["netstat_report: 2/6 hosts audited", "netstat_report: 4/6 hosts audited",
                         "netstat_report: 6/6 hosts audited"], second.stdout[-2000:]
    finally:
        new_stray.kill()


def report_first_day(first, tmp_path):
    """The date the first run of test_changes... saw h4's stray listener (that run's report date)."""
    sets = tmp_path / "reports" / ".sets"
    oldest = sorted(os.listdir(sets))[0]
    return json.loads((sets / oldest / "report.json").read_text())["generated"][:10]
