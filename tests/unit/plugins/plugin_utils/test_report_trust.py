# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Reports a user can bet on: verdicts counted apart, grouping from structured fields, a report
set that a kill at any instant cannot mix, one absurd host that cannot erase the others, and a
console that shows the verdict and the findings in a few escaped lines."""

import json
import os
import xml.etree.ElementTree as ET

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _console, _report


def _proc(pid, name, user="root"):
    return {"pid": pid, "ppid": 1, "name": name, "exe": "/usr/bin/" + name, "cmdline": name, "uid": 0, "user": user}


def _listener(port, procs, unresolved=None):
    return {
        "proto": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": port, "state": "LISTEN", "recv_q": 0,
        "send_q": 0, "backlog": 128, "inode": port, "uid": 0, "user": "root", "exposure": "wildcard",
        "processes": procs, "owner_unresolved": unresolved,
    }


def _facts(listeners, codes=()):
    return {
        "collector": {"backend": "netlink", "complete": not codes, "reasons": ["r"] * len(codes),
                      "reason_codes": list(codes), "owners": True},
        "listeners": listeners,
        "unix": [],
        "counts": {"tcp": {"LISTEN": len(listeners)}},
    }


POLICY = {"listeners": {"default": "deny", "allow": [{"port": 22, "program": "sshd"}]}}
SSH = _listener(22, [_proc(800, "sshd")])
UNRESOLVED = {"cause": "not-root", "causes": ["not-root"], "pids": [1], "detail": "could not inspect pid 1 (init)"}


def _entry(facts, policy=None):
    result = _policy.evaluate(facts, [policy or POLICY], today="2026-06-01")
    return dict(result, status="ok", facts=facts)


def _fleet():
    return _report.build_report(
        {
            "clean": _entry(_facts([SSH])),
            "drift": _entry(_facts([SSH, _listener(8080, [_proc(5, "python3")])])),
            "blind": _entry(_facts([SSH, _listener(2024, [], UNRESOLVED)], codes=("owners-unresolved",)),
                            {"listeners": {"default": "allow"}}),
            "down": {"status": "unreachable", "error": "ssh: no route"},
        },
        generated="2026-01-01T00:00:00+00:00",
    )


def test_verdicts_counted_apart():
    model = _fleet()
    verdicts = {h["host"]: h["verdict"] for h in model["hosts"]}
    assert verdicts == {"clean": "compliant", "drift": "drift", "blind": "incomplete", "down": "unreachable"}
    s = model["summary"]
    assert (s["compliant"], s["drift"], s["incomplete"], s["unreachable"]) == (1, 1, 1, 1)
    assert model["verdict"] == "unreachable" and model["compliant"] is False
    md = _report.render_markdown(model)
    assert "| blind | INCOMPLETE |" in md and "1 incomplete" in md
    html = _report.render_html(model)
    assert 'data-verdict="incomplete"' in html and 'class="verdict inc"' in html


def test_junit_drift_is_a_failure_incomplete_and_unreachable_are_errors():
    root = ET.fromstring(_report.render_junit(_fleet()))
    outcome = {}
    for case in root.iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        outcome[case.get("name")] = kinds[0] if kinds else "passed"
    assert outcome["[drift] unexpected-listener"] == "failure"
    assert outcome["[blind] incomplete-facts"] == "error"
    assert outcome["[down] audit"] == "error"
    assert outcome["[clean] compliant"] == "passed"


def test_grouping_reads_the_programs_field():
    odd = "evil\nname"
    hosts = {
        "a": _entry(_facts([SSH, _listener(8080, [_proc(5, odd)])])),
        "b": _entry(_facts([SSH, _listener(8080, [_proc(9, odd)])])),
        # two programs on one port are one finding naming both; a host with the other program alone
        # is another group
        "c": _entry(_facts([SSH, _listener(8080, [_proc(5, odd), _proc(6, "python3")])])),
        "d": _entry(_facts([SSH, _listener(8080, [_proc(7, "python3")])])),
    }
    model = _report.build_report(hosts)
    groups = {tuple(g["programs"]): g["hosts"] for g in model["drift"] if g["rule"] == "unexpected-listener"}
    assert groups == {(odd,): ["a", "b"], (odd, "python3"): ["c"], ("python3",): ["d"]}
    label = [g["label"] for g in model["drift"] if g["programs"] == [odd]][0]
    assert label == "tcp 0.0.0.0:8080 evil\\x0aname"  # escaped in the label, kept in the field


def test_a_finding_text_is_never_parsed_back():
    finding = {"rule": "unexpected-listener", "severity": "error", "subject": "tcp 0.0.0.0:1",
               "actual": "listening: liar (pid 1, user root)", "message": "m"}
    model = _report.build_report({"h": {"status": "ok", "findings": [finding]}})
    assert model["drift"][0]["programs"] == [] and model["drift"][0]["label"] == "tcp 0.0.0.0:1"


def test_one_absurd_host_is_failed_and_the_rest_reported(tmp_path):
    hosts = {
        "good": _entry(_facts([SSH])),
        "absurd": {"status": "ok", "findings": 7, "counts": {"error": float("inf")}, "facts": {"listeners": 5}},
        "nan": {"status": "ok", "findings": [], "facts": {"collector": {}, "counts": {"tcp": {"LISTEN": float("inf")}}}},
    }
    model = _report.build_report(hosts)
    by = {h["host"]: h for h in model["hosts"]}
    assert by["good"]["verdict"] == "compliant"
    assert by["absurd"]["verdict"] == "failed" and "cannot be reported" in by["absurd"]["error"]
    paths = _report.write_reports(model, str(tmp_path))
    assert len(paths) == 5
    data = json.loads((tmp_path / "report.json").read_text())  # strict JSON: no Infinity
    assert {h["host"] for h in data["hosts"]} == {"good", "absurd", "nan"}


# -- the report set -----------------------------------------------------------------------------


class Killed(BaseException):
    """A kill -9 at this instant: nothing after it runs, no handler catches it."""


def _killer(real, k):
    """Wrappers of the os functions in `real` that raise Killed before the k-th call (0-based)."""
    steps = [0]

    def killing(name):
        def step(*args, **kwargs):
            if steps[0] == k:
                raise Killed(name)
            steps[0] += 1
            return real[name](*args, **kwargs)

        return step

    return killing


def _read_set(directory):
    return {n: (directory / n).read_text() for n in _report.FILENAMES.values()}


STEPS = ("rename", "replace", "symlink", "fsync", "unlink", "mkdir", "chmod")


def test_a_kill_at_any_instant_leaves_one_whole_set(tmp_path, monkeypatch):
    old_model = _report.build_report({"old": {"status": "ok", "findings": []}}, generated="2026-01-01T00:00:00+00:00")
    new_model = _report.build_report({"new": {"status": "unreachable", "error": "x"}}, generated="2026-01-02T00:00:00+00:00")
    d = tmp_path / "r"
    _report.write_reports(old_model, str(d))
    old = _read_set(d)
    # count the file-system steps of one write, then kill the writer before each of them in turn
    calls = []
    real = {name: getattr(_report.os, name) for name in STEPS}

    def counting(name):
        def step(*args, **kwargs):
            calls.append(name)
            return real[name](*args, **kwargs)
        return step

    probe = tmp_path / "probe"
    _report.write_reports(old_model, str(probe))
    with monkeypatch.context() as m:
        for name in STEPS:
            m.setattr(_report.os, name, counting(name))
        _report.write_reports(new_model, str(probe))
    total = len(calls)
    assert total >= 8
    new = _read_set(probe)
    assert new != old
    seen_new = False
    # kill before step 0, 1, 2, ... until a write gets through (cleaning up after the killed
    # writes adds steps, so a write here may take more than `total`)
    for k in range(3 * total):
        if seen_new:
            break
        killing = _killer(real, k)

        with monkeypatch.context() as m:
            for name in STEPS:
                m.setattr(_report.os, name, killing(name))
            try:
                _report.write_reports(new_model, str(d))
            except Killed:
                pass
        now = _read_set(d)
        assert now in (old, new), "mixed set after a kill at step %d of %d" % (k, total)
        seen_new = seen_new or now == new
    assert seen_new
    # the next run removes whatever the killed ones left behind
    _report.write_reports(old_model, str(d))
    left = [n for n in os.listdir(d) + os.listdir(d / ".sets") if ".tmp-" in n]
    assert left == []
    assert len(os.listdir(d / ".sets")) <= _report.KEEP_SETS
    assert json.loads((d / "report.json").read_text())["hosts"][0]["host"] == "old"


def test_a_killed_writer_of_another_process_is_cleaned(tmp_path):
    d = tmp_path / "r"
    (d / ".sets" / ".tmp-999999999-abc").mkdir(parents=True)
    (d / "latest.tmp-999999999").symlink_to("nowhere")
    _report.write_reports(_report.build_report({}), str(d))
    assert [n for n in os.listdir(d / ".sets") if ".tmp-" in n] == []
    assert not os.path.lexists(d / "latest.tmp-999999999")


def test_plain_files_of_an_older_version_become_a_set(tmp_path):
    for name in _report.FILENAMES.values():
        (tmp_path / name).write_text("old " + name)
    _report.write_reports(_report.build_report({"h": {"status": "ok"}}), str(tmp_path))
    assert all(os.path.islink(tmp_path / n) for n in _report.FILENAMES.values())
    assert '"h"' in (tmp_path / "report.json").read_text()


# -- console -----------------------------------------------------------------------------------


def test_console_of_a_failing_audit_is_a_few_escaped_lines():
    many = [_listener(9000 + i, [_proc(100 + i, "bad\x1b[31mname")]) for i in range(15)]
    host = _policy.evaluate(_facts([SSH] + many), [POLICY], today="2026-06-01")
    lines = _console.console_lines(host, "error", limit=10)
    assert lines[0].startswith("DRIFT against ") and "15 drift finding(s)" in lines[0]
    assert len(lines) == 12 and lines[-1].startswith("  ... and 5 more")
    assert all("\x1b" not in line and "\n" not in line for line in lines)
    assert "bad\\x1b[31mname" in lines[1]


def test_console_of_a_passing_audit_is_one_line():
    host = _policy.evaluate(_facts([SSH]), [dict(POLICY, policy="web")], today="2026-06-01")
    assert _console.console_lines(host, "error") == ["compliant with web: no finding at or above error"]


@pytest.mark.parametrize("text", ["a\x00b", "\u202eevil", "x\x9by", "line\u2028break"])
def test_console_text_escapes_controls(text):
    out = _console.console_text(text)
    assert out.isprintable() and out != text
