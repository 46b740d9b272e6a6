# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report: model, the four renderers, hostile input, atomic writes.

Findings come from the real policy engine (module_utils/_policy.py) evaluating canned facts in
which process names and command lines are hostile, so that the report is tested on what the
engine really says.
"""

import json
import os
import re
import sys

import pytest

_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
try:
    import ansible_collections.netaudit.netstat  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # not run through ansible-test: use the checkout's collections link
    sys.path.insert(0, os.path.join(_REPO, ".venv", "collections"))

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy  # noqa: E402
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _report  # noqa: E402

etree = pytest.importorskip("lxml.etree")
lxml_html = pytest.importorskip("lxml.html")

XSD = os.path.join(_REPO, "tests", "unit", "fixtures", "junit", "jenkins-junit.xsd")

CONTROLS = "".join(chr(c) for c in range(0x20))
LONG = "A" * 5000 + "TAIL-MARKER"
HOSTILE = [
    "<script>alert('x')</script>",
    "]]><evil/>",
    "a|b|c",
    "`rm -rf /`",
    "ctl:" + CONTROLS + "\x7f\x85",
    "<img src=x onerror=alert(1)>",
    "**bold** _it_ [link](http://example.invalid) <!-- c -->",
    "&amp; &lt; \"quoted\" 'single'",
    LONG,
]
HOSTILE_NAME = "py<script>|`x`]]>\x00\x1b[31m\n" + "N" * 1200 + "NAME-TAIL"
HOSTILE_CMDLINE = " ".join(HOSTILE)

POLICY = {
    "policy": "unit",
    "listeners": {
        "default": "deny",
        "allow": [{"proto": "tcp", "port": 22, "program": "sshd", "required": True}],
    },
    "states": {"tcp": {"TIME_WAIT": {"max": 5}}},
}


def _proc(pid, name, cmdline="", user="root"):
    return {
        "pid": pid,
        "ppid": 1,
        "name": name,
        "exe": "/usr/bin/" + name[:20],
        "cmdline": cmdline,
        "uid": 0,
        "user": user,
    }


def _listener(port, procs, address="0.0.0.0", proto="tcp"):
    return {
        "proto": proto,
        "family": "ipv4",
        "address": address,
        "port": port,
        "state": "LISTEN" if proto == "tcp" else "CLOSED",
        "recv_q": 0,
        "send_q": 0,
        "backlog": None,
        "inode": 1000 + port,
        "uid": 0,
        "user": "root",
        "exposure": "wildcard",
        "v6only": None,
        "interface": None,
        "service": None,
        "processes": procs,
    }


def _facts(listeners, time_wait=0, complete=True):
    counts = {"tcp": dict.fromkeys(_policy.TCP_STATE_NAMES, 0)}
    counts["tcp"]["LISTEN"] = len(listeners)
    counts["tcp"]["TIME_WAIT"] = time_wait
    return {
        "collector": {"backend": "procfs", "complete": complete, "reasons": []},
        "listeners": listeners,
        "counts": counts,
    }


def _audit(facts):
    result = _policy.evaluate(facts, [POLICY])
    return {
        "status": "ok",
        "compliant": result["compliant"],
        "counts": result["counts"],
        "findings": result["findings"],
        "policies": result["policies"],
        "facts": facts,
    }


def fleet():
    ssh = _listener(22, [_proc(800, "sshd", "sshd: /usr/sbin/sshd -D")])
    hosts = {
        "clean1": _audit(_facts([ssh])),
        "clean2": _audit(_facts([ssh])),
        # the same stray python3 listener on two hosts, different pids: one drift group
        "drift1": _audit(_facts([ssh, _listener(8080, [_proc(4242, "python3", "python3 -m http.server 8080")])], time_wait=9)),
        "drift2": _audit(_facts([ssh, _listener(8080, [_proc(5151, "python3", "python3 -m http.server")])])),
        # hostile process name and command line
        "hostile": _audit(_facts([ssh, _listener(9999, [_proc(66, HOSTILE_NAME, HOSTILE_CMDLINE)])])),
        "down.example.com": {
            "status": "unreachable",
            "error": "Failed to connect to the host via ssh: " + HOSTILE[0] + HOSTILE[4],
        },
        "broken": {"status": "failed", "error": "task 'gather': " + HOSTILE_CMDLINE},
        "later": {"status": "skipped", "error": "audit task skipped"},
    }
    # a finding that carries the whole process (command line included), as a rule may
    hosts["hostile"]["findings"].append(
        {
            "rule": "wrong-owner",
            "severity": "error",
            "subject": "tcp 0.0.0.0:9999 " + HOSTILE[4],
            "expected": {"program": HOSTILE[2]},
            "actual": {"processes": [_proc(66, HOSTILE_NAME, HOSTILE_CMDLINE)]},
            "message": HOSTILE_CMDLINE,
            "source": HOSTILE[1] + ":3",
            "waived": None,
        }
    )
    return _report.build_report(hosts, playbook="audit.yml", generated="2026-01-01T00:00:00+00:00")


@pytest.fixture(scope="module")
def model():
    return fleet()


# -- model -----------------------------------------------------------------------------------


def test_model_verdicts_and_summary(model):
    verdicts = {h["host"]: h["verdict"] for h in model["hosts"]}
    assert verdicts == {
        "broken": "failed",
        "clean1": "compliant",
        "clean2": "compliant",
        "down.example.com": "unreachable",
        "drift1": "drift",
        "drift2": "drift",
        "hostile": "drift",
        "later": "skipped",
    }
    s = model["summary"]
    assert (s["hosts"], s["audited"], s["compliant"], s["drift"]) == (8, 5, 2, 3)
    assert (s["failed"], s["unreachable"], s["skipped"]) == (1, 1, 1)
    assert model["compliant"] is False
    down = [h for h in model["hosts"] if h["host"] == "down.example.com"][0]
    assert down["compliant"] is False and down["status"] == "unreachable"
    assert down["error"].startswith("Failed to connect")
    later = [h for h in model["hosts"] if h["host"] == "later"][0]
    assert later["compliant"] is None
    assert [h["host"] for h in model["hosts"]] == sorted(h["host"] for h in model["hosts"])


def test_facts_summary(model):
    drift1 = [h for h in model["hosts"] if h["host"] == "drift1"][0]
    assert drift1["facts"]["backend"] == "procfs"
    assert drift1["facts"]["listeners"] == 2
    assert drift1["facts"]["states"]["tcp"] == {"LISTEN": 2, "TIME_WAIT": 9}
    assert drift1["facts"]["complete"] is True


def test_drift_grouped_across_hosts(model):
    groups = {(g["rule"], g["label"]): g for g in model["drift"]}
    g = groups[("unexpected-listener", "tcp 0.0.0.0:8080 python3")]
    assert g["hosts"] == ["drift1", "drift2"]
    assert (g["count"], g["total"]) == (2, 5)
    assert groups[("state-threshold", "tcp TIME_WAIT")]["hosts"] == ["drift1"]


def test_fleet_compliant_when_clean():
    m = _report.build_report({"a": {"status": "ok", "compliant": True, "findings": []}})
    assert m["compliant"] is True and m["drift"] == []
    assert m["summary"]["compliant"] == 1


def test_waived_findings_do_not_count():
    finding = {"rule": "unexpected-listener", "severity": "error", "subject": "tcp 0.0.0.0:1"}
    m = _report.build_report({"a": {"status": "ok", "findings": [dict(finding, waived={"reason": "T-1"})]}})
    host = m["hosts"][0]
    assert host["counts"]["error"] == 0 and host["compliant"] is True
    assert m["drift"] == [] and m["summary"]["waived"] == 1
    cases = _report.junit_cases(m)
    assert [c["outcome"] for c in cases] == ["passed"]


# -- JSON ------------------------------------------------------------------------------------


def test_json_round_trips(model):
    text = _report.render_json(model)
    assert json.loads(text) == json.loads(json.dumps(model))
    assert text.isascii()  # every non-ASCII / control character escaped
    back = json.loads(text)
    hostile = [h for h in back["hosts"] if h["host"] == "hostile"][0]
    actual = [f["actual"] for f in hostile["findings"] if f["rule"] == "unexpected-listener"]
    assert actual and HOSTILE_NAME in actual[0]  # verbatim, nothing lost
    owner = [f for f in hostile["findings"] if f["rule"] == "wrong-owner"][0]
    assert owner["actual"]["processes"][0]["cmdline"] == HOSTILE_CMDLINE
    assert {h["host"] for h in back["hosts"]} >= {"down.example.com", "broken", "later"}


# -- JUnit -----------------------------------------------------------------------------------


def _junit_tree(model, **kw):
    text = _report.render_junit(model, **kw)
    return text, etree.fromstring(text.encode("utf-8"))


def test_junit_valid_against_jenkins_schema(model):
    schema = etree.XMLSchema(etree.parse(XSD))
    _text, root = _junit_tree(model)
    schema.assertValid(root)


def test_junit_cases(model):
    _text, root = _junit_tree(model)
    suites = root.findall("testsuite")
    assert len(suites) == 1
    cases = suites[0].findall("testcase")
    by = {}
    for case in cases:
        host, rule = re.match(r"^\[(.*)\] (.*)$", case.get("name")).groups()
        assert _report._junit_classname(host) == case.get("classname")
        by.setdefault(case.get("classname"), {})[rule] = case
    assert "[down.example.com] audit" in {c.get("name") for c in cases}
    assert set(by) == {
        "netstat.broken",
        "netstat.clean1",
        "netstat.clean2",
        "netstat.down_example_com",
        "netstat.drift1",
        "netstat.drift2",
        "netstat.hostile",
        "netstat.later",
    }
    # a clean host: one passing test case
    assert list(by["netstat.clean1"]) == ["compliant"]
    assert len(by["netstat.clean1"]["compliant"]) == 0
    # unreachable / failed: an error element with the message
    err = by["netstat.down_example_com"]["audit"].find("error")
    assert err is not None and err.get("type") == "unreachable"
    assert "Failed to connect" in err.get("message")
    assert by["netstat.broken"]["audit"].find("error") is not None
    assert by["netstat.later"]["audit"].find("skipped") is not None
    # one test case per host and rule: error findings fail, warnings do not
    assert set(by["netstat.drift1"]) == {"unexpected-listener", "state-threshold"}
    assert by["netstat.drift1"]["unexpected-listener"].find("failure") is not None
    assert by["netstat.drift1"]["state-threshold"].find("failure") is None
    suite = suites[0]
    assert int(suite.get("tests")) == len(cases)
    assert int(suite.get("failures")) == len(root.findall(".//failure"))
    assert int(suite.get("errors")) == 2
    assert int(suite.get("skipped")) == 1


def test_junit_fail_on_warning(model):
    _text, root = _junit_tree(model, fail_on="warning")
    names = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert "[drift1] state-threshold" in names


def test_junit_hostile_text_is_data(model):
    text, root = _junit_tree(model)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f]", text)
    assert "<script" not in text and "<evil" not in text and "<img" not in text
    # the only elements are the JUnit vocabulary
    tags = {el.tag for el in root.iter()}
    assert tags <= {"testsuites", "testsuite", "properties", "property", "testcase", "failure", "error", "skipped", "system-out"}
    hostile = [c for c in root.iter("testcase") if c.get("classname") == "netstat.hostile"]
    body = "".join(c.findtext("failure") or "" for c in hostile)
    assert "<script>" in body  # shown as text, escaped in the file
    assert "\\x00" in body and "\\x1b" in body
    assert "chars]" in body  # long command line truncated visibly
    assert "TAIL-MARKER" not in text and "NAME-TAIL" not in text


# -- Markdown --------------------------------------------------------------------------------


def _unescaped_pipes(line):
    return len(re.findall(r"(?<!\\)\|", line))


def test_markdown_tables_hold(model):
    text = _report.render_markdown(model)
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f]", text)
    lines = text.splitlines()
    table = None
    for line in lines:
        if line.startswith("|"):
            n = _unescaped_pipes(line)
            if table is None:
                table = n
            assert n == table, line  # no cell breaks out of its column
        else:
            table = None


def test_markdown_escapes(model):
    text = _report.render_markdown(model)
    assert "<script" not in text and "<img" not in text and "<!--" not in text
    assert "&lt;script&gt;" in text
    assert re.search(r"(?<!\\)`", text) is None  # every backtick escaped
    assert "](http" not in text.replace("\\](http", "")
    assert "TAIL-MARKER" not in text and "chars\\]" in text
    for host in ("down.example.com", "broken", "later", "clean1"):
        assert host in text
    assert "UNREACHABLE" in text
    assert "tcp 0.0.0.0:8080 python3 | on 2/5 hosts" in text


def test_markdown_renders_no_html(model):
    markdown_it = pytest.importorskip("markdown_it")
    md = markdown_it.MarkdownIt("commonmark", {"html": True}).enable("table")
    rendered = md.render(_report.render_markdown(model))
    doc = lxml_html.fromstring("<div>" + rendered + "</div>")
    tags = {el.tag for el in doc.iter() if isinstance(el.tag, str)}
    assert not tags & {"script", "img", "a", "evil"}
    assert "<script>alert" in doc.text_content()  # shown, not interpreted


# -- HTML ------------------------------------------------------------------------------------


def test_html_self_contained_and_escaped(model):
    text = _report.render_html(model)
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text)
    doc = lxml_html.document_fromstring(text)
    tags = {el.tag for el in doc.iter() if isinstance(el.tag, str)}
    assert not tags & {"script", "img", "link", "iframe", "object", "embed", "evil"}
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        for attr, value in el.attrib.items():
            assert not attr.startswith("on"), (el.tag, attr)
            if attr in ("src", "href"):
                pytest.fail("external reference %s=%s" % (attr, value))
    assert "url(" not in text and "@import" not in text
    assert "TAIL-MARKER" not in text and "chars]" in text
    body = doc.text_content()
    assert "<script>alert('x')</script>" in body  # visible as text
    assert "\\x00" in body


def test_html_chart_per_host_and_drift(model):
    doc = lxml_html.document_fromstring(_report.render_html(model))
    cards = doc.find_class("host")
    assert len(cards) == len(model["hosts"])
    for card in cards:
        svgs = [el for el in card.iter() if isinstance(el.tag, str) and el.tag.endswith("svg")]
        assert len(svgs) == 1
    drift1 = [c for c in cards if "drift1" in c.text_content()][0]
    bars = [el for el in drift1.iter() if el.get("class") == "bar bar-error"]
    assert bars and int(bars[0].get("width")) > 0
    verdicts = {c.get("data-verdict") for c in cards}
    assert verdicts == {"compliant", "drift", "failed", "unreachable", "skipped"}
    assert "tcp 0.0.0.0:8080 python3" in doc.get_element_by_id("drift").text_content()
    assert "on 2/5 hosts" in doc.get_element_by_id("drift").text_content()


# -- writing ---------------------------------------------------------------------------------


def test_write_reports_all_five(model, tmp_path):
    paths = _report.write_reports(model, str(tmp_path / "out"))
    names = ["report.json", "junit.xml", "report.md", "report.html", "report.sarif"]
    assert sorted(os.path.basename(p) for p in paths.values()) == sorted(names)
    assert _report_names(tmp_path / "out") == sorted(os.path.basename(p) for p in paths.values())
    for path in paths.values():
        with open(path, encoding="utf-8") as f:
            assert "down.example.com" in f.read()


def test_write_reports_formats_subset(model, tmp_path):
    paths = _report.write_reports(model, str(tmp_path), formats="json, md")
    assert set(paths) == {"json", "markdown"}
    with pytest.raises(_report.ReportError, match="unknown report format"):
        _report.write_reports(model, str(tmp_path), formats=["pdf"])


def test_write_failure_keeps_old_reports(model, tmp_path, monkeypatch):
    _report.write_reports(model, str(tmp_path))
    before = {n: (tmp_path / n).read_text() for n in _report_names(tmp_path)}
    calls = []
    real_replace = os.replace

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 1:
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(_report.os, "replace", flaky)
    other = _report.build_report({"x": {"status": "unreachable", "error": "gone"}})
    with pytest.raises(_report.ReportError, match="No space left"):
        _report.write_reports(other, str(tmp_path))
    after = {n: (tmp_path / n).read_text() for n in _report_names(tmp_path)}
    assert after == before  # nothing replaced
    leftovers = [n for n in os.listdir(tmp_path / ".sets") if ".tmp-" in n] + [n for n in os.listdir(tmp_path) if ".tmp-" in n]
    assert leftovers == [] and len(os.listdir(tmp_path / ".sets")) == 1  # nothing staged is left


def test_render_failure_writes_nothing(tmp_path, monkeypatch):
    def boom(model):
        raise KeyError("bug")

    monkeypatch.setitem(_report.RENDERERS, "html", boom)
    with pytest.raises(_report.ReportError, match="report.html"):
        _report.write_reports(_report.build_report({}), str(tmp_path / "d"))
    assert not (tmp_path / "d").exists() or os.listdir(tmp_path / "d") == []


def test_unwritable_directory(model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(_report.ReportError, match="report directory"):
        _report.write_reports(model, str(blocker / "sub"))


# -- text helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", HOSTILE + [HOSTILE_NAME, b"\xff\xfe bytes", {"k": "<v>"}, None, 42])
def test_clean_never_leaks_controls(value):
    out = _report.clean(value, limit=200)
    assert not re.search("[\x00-\x1f\x7f-\x9f]", out)
    assert len(out) <= 200 + len("\u2026 [+99999 chars]")


def test_md_text_escapes_everything():
    out = _report.md_text("a|b`c*d_e[f]g<h>&i\nj")
    # the newline is shown as the text \x0a, whose backslash Markdown needs escaped
    assert out == "a\\|b\\`c\\*d\\_e\\[f\\]g&lt;h&gt;&amp;i\\\\x0aj"


def _report_names(directory):
    """The report files of a report directory (its `latest` link and `.sets` store aside)."""
    return sorted(n for n in os.listdir(directory) if not n.startswith(".") and n != "latest")


def _fleet(n):
    hosts = {}
    for i in range(n):
        findings = []
        if i % 10 == 0:
            findings = [{"rule": "unexpected-listener", "severity": "error", "subject": "tcp 0.0.0.0:8080", "message": "m",
                         "source": "p.yml:3", "waived": None}]
        hosts["h%04d" % i] = {"status": "ok", "findings": findings}
    hosts["gone"] = {"status": "unreachable", "error": "ssh: refused"}
    return _report.build_report(hosts)


def test_html_groups_agreeing_hosts_of_a_large_fleet_and_filters_without_script():
    html = _report.render_html(_fleet(1000))
    assert "<script" not in html
    # 100 drifting alike, 900 compliant alike: two group cards, and the unreachable host alone
    assert html.count('class="card host group"') == 2 and html.count('class="card host"') == 1
    assert "100 hosts" in html and "900 hosts" in html and "the same on each: tcp 0.0.0.0:8080" in html
    assert html.index("100 hosts") < html.index("900 hosts")  # drift first
    for fid in ("vf-all", "vf-bad", "vf-drift", "vf-inc", "vf-down"):
        assert 'id="%s"' % fid in html and 'for="%s"' % fid in html
    assert len(html) < 200000  # stays a page, not 1,000 cards
    # every host is still named (in its group's list)
    assert all("h%04d" % i in html for i in range(0, 1000, 37))


def test_html_small_fleet_keeps_a_card_per_host():
    html = _report.render_html(_fleet(20))
    assert 'class="card host group"' not in html and html.count('class="card host"') == 21
