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
import shutil
import subprocess
import sys
import textwrap

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from netns_helpers import PYTHON, REPO, Netns, ansible_env, netns_usable  # noqa: E402

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


def _require_netns():
    ok, why = netns_usable()
    if not ok:
        if os.environ.get("CI") == "true":
            pytest.fail("integration tests need network namespaces in CI: %s" % why)
        pytest.skip(why)


def _start(ns, program, sockets, extra=()):
    argv = [PYTHON, SERVICE, program, json.dumps(sockets)] + list(extra)
    proc, _rest = ns.start(argv)
    return proc


@pytest.fixture(scope="module")
def fleet():
    _require_netns()
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
    reports = tmp_path / "reports"
    assert sorted(os.listdir(reports)) == [".sets", "junit.xml", "latest", "report.html", "report.json", "report.md"], log
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
