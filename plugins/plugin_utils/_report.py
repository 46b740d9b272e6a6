# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fleet report: a model built from per-host audit results, rendered as JSON, JUnit XML,
Markdown and a self-contained HTML page, and written atomically.

This is a private plugin_utils file of netaudit.netstat; its API may change at any time.
Pure functions, standard library only, no Ansible imports: the netstat_report callback and the
unit tests call them directly.

Every value that reaches a report may come from a managed host (process names, command lines,
socket paths) and is treated as hostile: the JSON keeps it verbatim (json escapes it), every other
format escapes it for its own syntax, replaces control characters with visible ``\\xNN`` escapes
and truncates very long strings with a visible marker.
"""

import datetime
import html
import json
import math
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy

SCHEMA_VERSION = 1

SEVERITIES = _policy.SEVERITIES
SEVERITY_RANK = _policy.SEVERITY_RANK

# Host status: how far the play got with the host.
#   ok: the audit ran (the host may still have drifted); failed: a task failed before or in the
#   audit without producing a result; unreachable: Ansible could not connect; skipped: the audit
#   task was skipped for the host (e.g. a `when:`), so it was never audited.
STATUSES = ("ok", "failed", "unreachable", "skipped")

# Host verdict: compliant | drift | incomplete (the audit ran; see _policy.judge), or the status
# of a host that was not audited.
VERDICTS = ("compliant", "drift", "incomplete", "failed", "unreachable", "skipped")
AUDIT_VERDICTS = ("compliant", "drift", "incomplete")

# The host counts of the summary, in the order the reports show them.
SUMMARY_KEYS = ("hosts", "audited", "compliant", "drift", "incomplete", "failed", "unreachable", "skipped")

FORMATS = ("json", "junit", "markdown", "html", "sarif")
FILENAMES = {
    "json": "report.json",
    "junit": "junit.xml",
    "markdown": "report.md",
    "html": "report.html",
    "sarif": "report.sarif",
}
FORMAT_ALIASES = {"md": "markdown", "xml": "junit", "htm": "html"}

FINDING_KEYS = (
    "rule",
    "severity",
    "subject",
    "expected",
    "actual",
    "message",
    "source",
    "waived",
    "proto",
    "family",
    "address",
    "port",
    "remote_address",
    "remote_port",
    "path",
    "state",
    "programs",
    "users",
    "uids",
    "units",
    "containers",
    "container_ids",
    "images",
    "netns",
    "cause",
    "unresolved",
)
_LIST_KEYS = ("programs", "users", "uids", "units", "containers", "container_ids", "images")

# Display limits (characters) for the human formats; the JSON is never truncated.
LIMIT_SHORT = 120  # table cells, chart labels, subjects, host names
LIMIT_LONG = 1000  # messages, error text

SUITE_NAME = "netaudit.netstat"


class ReportError(Exception):
    """The report could not be rendered or written; the message says which file and why."""


# ---------------------------------------------------------------------------------------------
# Text hygiene


# C0 controls except TAB/LF/CR, DEL, C1 controls, the Unicode line and paragraph separators, the
# bidirectional overrides and isolates (they reorder what a reader sees), lone surrogates and the
# XML non-characters.
_CONTROL_RE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]"
)
_CONTROL_ALL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffe\uffff]")


def _visible(match):
    code = ord(match.group(0))
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def to_text(value):
    """Any value as text: None is empty, containers are compact JSON, the rest is str()."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (dict, list, tuple)):
        try:
            return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def truncate(text, limit):
    """Cut `text` to about `limit` characters, saying visibly how much was dropped."""
    if limit is None or len(text) <= limit:
        return text
    dropped = len(text) - limit
    return text[:limit] + f"\u2026 [+{dropped} chars]"


def clean(value, limit=LIMIT_SHORT, multiline=False):
    """Text safe to place in a human report (before format escaping).

    Control characters become visible ``\\xNN`` escapes; newlines too unless `multiline`;
    the result is truncated to `limit` characters with a visible marker.
    """
    text = to_text(value)
    if multiline:
        text = text.replace("\r\n", "\n")
        text = _CONTROL_RE.sub(_visible, text)
    else:
        text = _CONTROL_ALL_RE.sub(_visible, text)
    return truncate(text, limit)


def html_text(value, limit=LIMIT_SHORT, multiline=False):
    """Escaped for HTML element content and quoted attribute values."""
    return html.escape(clean(value, limit, multiline), quote=True)


_MD_SPECIAL_RE = re.compile(r"([\\`*_\[\]|~])")


def md_text(value, limit=LIMIT_SHORT):
    """Escaped for a Markdown paragraph or table cell (GitHub / GitLab flavoured).

    HTML metacharacters become entities, Markdown punctuation is backslash-escaped (pipes
    included, so a cell never splits), newlines and controls are visible escapes.
    """
    text = clean(value, limit)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL_RE.sub(r"\\\1", text)
    # A line that starts with "-", "=" or "1." could turn into a list or a heading underline.
    if text[:1] in ("-", "=", "."):
        text = "\\" + text
    return text


def xml_text(value, limit=LIMIT_LONG, multiline=True):
    """Text legal in XML 1.0 (controls replaced); ElementTree escapes the markup characters."""
    return clean(value, limit, multiline)


# ---------------------------------------------------------------------------------------------
# Model


def _int(value, default=0):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def normalize_finding(finding):
    """A finding with every documented key present (missing ones None)."""
    if not isinstance(finding, dict):
        finding = {"rule": "unknown", "message": to_text(finding)}
    out = dict(finding)
    for key in FINDING_KEYS:
        out.setdefault(key, [] if key in _LIST_KEYS else None)
    for key in _LIST_KEYS:
        if not isinstance(out[key], list):
            out[key] = []
    severity = to_text(out.get("severity") or "error").lower()
    out["severity"] = severity if severity in SEVERITY_RANK else "error"
    out["rule"] = to_text(out.get("rule") or "unknown")
    out["subject"] = "" if out.get("subject") is None else out["subject"]
    return out


def _finding_sort_key(finding):
    return (
        SEVERITY_RANK.get(finding["severity"], 9),
        to_text(finding["rule"]),
        to_text(finding["subject"]),
        to_text(finding.get("message")),
    )


def count_findings(findings, include_waived=False):
    """Unwaived findings per severity (every severity present)."""
    counts = {sev: 0 for sev in SEVERITIES}
    for finding in findings:
        if finding.get("waived") and not include_waived:
            continue
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    return counts


def facts_summary(netstat):
    """A short summary of ``ansible_facts.netstat`` for the report (None when absent).

    backend, complete, reasons, listener / connection / UNIX socket counts, and the non-zero
    state counts per protocol.
    """
    if not isinstance(netstat, dict) or not netstat:
        return None
    collector = netstat.get("collector") or {}
    listeners = netstat.get("listeners")
    states = {}
    for proto, table in sorted((netstat.get("counts") or {}).items()):
        if isinstance(table, dict):
            states[proto] = {name: _int(n) for name, n in table.items() if _int(n)}
    sockets = None
    if isinstance(netstat.get("counts"), dict):
        sockets = 0
        for proto in ("tcp", "udp"):
            sockets += sum(_int(n) for n in (netstat["counts"].get(proto) or {}).values())
    unix = netstat.get("unix")
    return {
        "backend": collector.get("backend"),
        "complete": collector.get("complete"),
        "reasons": list(collector.get("reasons") or []),
        "netns": collector.get("netns"),
        "gathered_at": collector.get("gathered_at") if isinstance(collector.get("gathered_at"), str) else None,
        "listeners": len(listeners) if isinstance(listeners, list) else None,
        "sockets": sockets,  # TCP + UDP sockets, every state
        "unix": len(unix) if isinstance(unix, list) else None,
        "states": states,
    }


def _summary_from(facts):
    """Accept either raw ``netstat`` facts or an already summarised dict."""
    if not isinstance(facts, dict) or not facts:
        return None
    if "collector" in facts or isinstance(facts.get("listeners"), list):
        return facts_summary(facts)
    out = {
        "backend": None,
        "complete": None,
        "reasons": [],
        "netns": None,
        "gathered_at": None,
        "listeners": None,
        "sockets": None,
        "unix": None,
        "states": {},
    }
    out.update(facts)
    return out


def normalize_host(name, entry):
    """One host's report entry.

    `entry` keys (all optional): status (ok | failed | unreachable | skipped), compliant,
    counts, findings, facts (raw ``ansible_facts.netstat`` or a facts_summary()), error,
    policies, task.
    """
    entry = dict(entry or {})
    status = entry.get("status") or "ok"
    if status not in STATUSES:
        status = "failed"
    findings = [normalize_finding(f) for f in (entry.get("findings") or [])]
    findings.sort(key=_finding_sort_key)
    counts = {sev: 0 for sev in SEVERITIES}
    given = entry.get("counts")
    if isinstance(given, dict) and status == "ok":
        for sev in SEVERITIES:
            counts[sev] = _int(given.get(sev))
    else:
        counts = count_findings(findings)
    if status == "ok":
        verdict = entry.get("verdict")
        if verdict not in AUDIT_VERDICTS:
            verdict = _policy.judge(findings, entry.get("fail_on") or "error")[0]
        compliant = verdict == "compliant"
    elif status == "skipped":
        compliant = None
        verdict = "skipped"
    else:
        compliant = False
        verdict = status
    error = entry.get("error")
    if status in ("failed", "unreachable") and not error:
        error = f"host {status}"
    return {
        "host": to_text(name),
        "status": status,
        "verdict": verdict,
        "compliant": compliant,
        "counts": counts,
        "findings": findings,
        "facts": _summary_from(entry.get("facts")),
        "error": None if error is None else to_text(error),
        "policies": list(entry.get("policies") or []),
        "task": entry.get("task"),
    }


def finding_programs(finding):
    """The names of the programs a finding is about, from its structured `programs` field
    (sorted, distinct; never read back out of the text)."""
    names = set()
    for prog in finding.get("programs") or []:
        name = prog.get("name") if isinstance(prog, Mapping) else prog
        if name is not None and name != "":
            names.add(to_text(name))
    return sorted(names)


def finding_context(finding):
    """Where a finding's socket runs, from its structured fields: "container web (image
    nginx:1.25); unit nginx.service", or None when it names no container and no unit."""
    parts = []
    containers = [to_text(c) for c in finding.get("containers") or []]
    images = [to_text(i) for i in finding.get("images") or []]
    units = [to_text(u) for u in finding.get("units") or []]
    if containers:
        parts.append("container %s%s" % (",".join(containers), " (image %s)" % ",".join(images) if images else ""))
    if units:
        parts.append("unit %s" % ",".join(units))
    return clean("; ".join(parts), LIMIT_SHORT) if parts else None


def finding_owner(finding):
    """The program and its container or unit, as one cell of a findings table."""
    program = finding_program(finding)
    context = finding_context(finding)
    return " ".join(p for p in (program, "[%s]" % context if context else None) if p)


def finding_program(finding):
    """The program(s) a finding is about, as one label (None when it names none)."""
    names = finding_programs(finding)
    return ",".join(clean(n, LIMIT_SHORT) for n in names) if names else None


def group_drift(hosts):
    """Unwaived findings grouped across hosts by (rule, severity, subject, program).

    Each group: rule, severity, subject, program, label ("tcp 0.0.0.0:8080 python3"),
    hosts (sorted), count, total (hosts audited), message (of the first host).
    Sorted by severity, then most hosts first, then rule and label.
    """
    audited = [h for h in hosts if h["status"] == "ok"]
    total = len(audited)
    groups = {}
    for host in audited:
        for finding in host["findings"]:
            if finding.get("waived"):
                continue
            programs = tuple(finding_programs(finding))
            program = finding_program(finding)
            context = finding_context(finding)
            subject = to_text(finding.get("subject"))
            key = (finding["rule"], finding["severity"], subject, programs, context)
            group = groups.get(key)
            if group is None:
                label = subject if not program else f"{subject} {program}"
                if context:
                    label = f"{label} [{context}]"
                group = groups[key] = {
                    "rule": finding["rule"],
                    "severity": finding["severity"],
                    "subject": subject,
                    "program": program,
                    "programs": list(programs),
                    "context": context,
                    "label": label.strip() or finding["rule"],
                    "hosts": [],
                    "count": 0,
                    "total": total,
                    "message": finding.get("message"),
                }
            if host["host"] not in group["hosts"]:
                group["hosts"].append(host["host"])
                group["count"] += 1
    out = list(groups.values())
    for group in out:
        group["hosts"].sort()
    out.sort(
        key=lambda g: (
            SEVERITY_RANK.get(g["severity"], 9),
            -g["count"],
            g["rule"],
            g["label"],
        )
    )
    return out


def fleet_verdict(hosts):
    """The fleet's verdict: the worst of its hosts' (could not audit > drift > incomplete >
    compliant; skipped hosts do not count)."""
    seen = {h["verdict"] for h in hosts}
    for verdict in ("failed", "unreachable", "drift", "incomplete"):
        if verdict in seen:
            return verdict
    return "compliant"


def build_report(hosts, playbook=None, generated=None, extra=None):
    """The report model from ``{host: entry}`` (see normalize_host for an entry's keys).

    Returns a JSON-serialisable dict: schema_version, generated (UTC ISO 8601), playbook,
    compliant (the fleet: no drift, no failed or unreachable host), summary, hosts (sorted by
    name), drift (see group_drift).
    """
    if isinstance(hosts, dict):
        items = hosts.items()
    else:
        items = [(h.get("host"), h) for h in hosts]
    entries = []
    for name, entry in items:
        try:
            entries.append(normalize_host(name, entry))
        except Exception as exc:  # noqa: BLE001 - one absurd host must not lose the others' report
            entries.append(
                normalize_host(
                    to_text(name),
                    {"status": "failed", "error": "its audit result cannot be reported: %s: %s" % (type(exc).__name__, exc)},
                )
            )
    entries.sort(key=lambda h: h["host"])
    if generated is None:
        generated = datetime.datetime.now(datetime.timezone.utc)
    if isinstance(generated, datetime.datetime):
        generated = generated.replace(microsecond=0).isoformat()
    verdicts = {v: 0 for v in VERDICTS}
    findings = {sev: 0 for sev in SEVERITIES}
    waived = 0
    for host in entries:
        verdicts[host["verdict"]] += 1
        for sev in SEVERITIES:
            findings[sev] += host["counts"][sev]
        waived += sum(1 for f in host["findings"] if f.get("waived"))
    summary = {
        "hosts": len(entries),
        "audited": sum(1 for h in entries if h["status"] == "ok"),
        "findings": findings,
        "waived": waived,
    }
    summary.update(verdicts)
    model = {
        "schema_version": SCHEMA_VERSION,
        "generated": generated,
        "playbook": playbook,
        "compliant": all(h["verdict"] in ("compliant", "skipped") for h in entries),
        "verdict": fleet_verdict(entries),
        "summary": summary,
        "hosts": entries,
        "drift": group_drift(entries),
    }
    if extra:
        model.update(extra)
    return model


# ---------------------------------------------------------------------------------------------
# JSON


def render_json(model):
    data = plain(model, finite=True)
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=True, default=to_text, allow_nan=False) + "\n"


# ---------------------------------------------------------------------------------------------
# JUnit XML (one <testsuite> in <testsuites>; valid against Jenkins' junit-10.xsd)


def _junit_classname(host):
    # Jenkins splits classname on dots into package / class: keep a host name in one piece.
    return "netstat." + clean(host, LIMIT_SHORT).replace(".", "_")


def _junit_name(host, what):
    # The host verbatim (cleaned) in the name too, as ansible-core's junit callback does.
    return f"[{clean(host, LIMIT_SHORT)}] {what}"


def _finding_line(finding):
    """A finding as a few lines of plain text (each value truncated) for JUnit bodies."""
    head = [finding["severity"], finding["rule"], finding["subject"]]
    parts = ["[{}] {} {}".format(*(clean(v, LIMIT_SHORT) for v in head))]
    for key in ("message", "expected", "actual", "source", "waived"):
        if finding.get(key) not in (None, ""):
            label = "" if key == "message" else key + ": "
            parts.append(label + clean(finding[key], LIMIT_LONG))
    return "\n  ".join(parts)


def junit_cases(model, fail_on="error"):
    """The test cases as plain dicts: classname, name, outcome (passed | failure | error |
    skipped), message, text. One per host and rule; one "compliant" case for a clean host, one
    "audit" case for a host that was not audited."""
    threshold = SEVERITY_RANK.get(fail_on, 0)
    cases = []
    for host in model["hosts"]:
        classname = _junit_classname(host["host"])
        name = host["host"]
        if host["status"] in ("failed", "unreachable"):
            cases.append(
                {
                    "classname": classname,
                    "name": _junit_name(name, "audit"),
                    "outcome": "error",
                    "type": host["status"],
                    "message": "{}: {}".format(host["status"], host["error"] or ""),
                    "text": clean(host["error"], LIMIT_LONG, multiline=True),
                }
            )
            continue
        if host["status"] == "skipped":
            cases.append(
                {
                    "classname": classname,
                    "name": _junit_name(name, "audit"),
                    "outcome": "skipped",
                    "type": "skipped",
                    "message": host["error"] or "audit skipped for this host",
                    "text": "",
                }
            )
            continue
        by_rule = {}
        for finding in host["findings"]:
            by_rule.setdefault(finding["rule"], []).append(finding)
        if not by_rule:
            cases.append(
                {
                    "classname": classname,
                    "name": _junit_name(name, "compliant"),
                    "outcome": "passed",
                    "type": None,
                    "message": "",
                    "text": "",
                }
            )
            continue
        for rule in sorted(by_rule):
            findings = by_rule[rule]
            failing = [f for f in findings if not f.get("waived") and SEVERITY_RANK.get(f["severity"], 0) <= threshold]
            text = "\n".join(_finding_line(f) for f in findings)
            if failing:
                subjects = ", ".join(to_text(f["subject"]) for f in failing[:5])
                if len(failing) > 5:
                    subjects += ", \u2026"
                if rule == "incomplete-facts":
                    # could not be seen: an error of the audit, not a failed check (drift)
                    message = f"incomplete: {len(failing)} part(s) could not be seen: {subjects}"
                    outcome = "error"
                else:
                    message = f"{len(failing)} {rule} finding(s): {subjects}"
                    outcome = "failure"
            else:
                message = ""
                outcome = "passed"
            cases.append(
                {
                    "classname": classname,
                    "name": _junit_name(name, rule),
                    "outcome": outcome,
                    "type": rule,
                    "message": message,
                    "text": text,
                }
            )
    return cases


def render_junit(model, fail_on="error"):
    cases = junit_cases(model, fail_on=fail_on)
    totals = {"failure": 0, "error": 0, "skipped": 0}
    for case in cases:
        if case["outcome"] in totals:
            totals[case["outcome"]] += 1
    root = ET.Element(
        "testsuites",
        {
            "name": SUITE_NAME,
            "tests": str(len(cases)),
            "failures": str(totals["failure"]),
            "errors": str(totals["error"]),
            "time": "0",
        },
    )
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": SUITE_NAME,
            "tests": str(len(cases)),
            "failures": str(totals["failure"]),
            "errors": str(totals["error"]),
            "skipped": str(totals["skipped"]),
            "time": "0",
            "timestamp": xml_text(model.get("generated"), LIMIT_SHORT, False),
        },
    )
    props = ET.SubElement(suite, "properties")
    summary = model["summary"]
    for key in SUMMARY_KEYS:
        ET.SubElement(props, "property", {"name": "hosts." + key, "value": str(summary[key])})
    if model.get("playbook"):
        ET.SubElement(
            props,
            "property",
            {
                "name": "playbook",
                "value": xml_text(model["playbook"], LIMIT_SHORT, False),
            },
        )
    for case in cases:
        elem = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": case["classname"],
                "name": xml_text(case["name"], None, False),
                "time": "0",
            },
        )
        if case["outcome"] in ("failure", "error", "skipped"):
            attrs = {"message": xml_text(case["message"], LIMIT_SHORT * 4, False)}
            if case["outcome"] != "skipped":
                attrs["type"] = xml_text(case["type"], LIMIT_SHORT, False)
            child = ET.SubElement(elem, case["outcome"], attrs)
            if case["text"]:
                child.text = xml_text(case["text"], None, True)
        elif case["text"]:
            out = ET.SubElement(elem, "system-out")
            out.text = xml_text(case["text"], None, True)
    if hasattr(ET, "indent"):
        ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


# ---------------------------------------------------------------------------------------------
# Markdown

_VERDICT_MARK = {
    "compliant": "PASS",
    "drift": "DRIFT",
    "incomplete": "INCOMPLETE",
    "failed": "FAILED",
    "unreachable": "UNREACHABLE",
    "skipped": "SKIPPED",
}


# The fleet headline: PASS, or what kept it from passing.
_FLEET_MARK = {
    "compliant": "PASS",
    "drift": "FAIL (drift)",
    "incomplete": "INCOMPLETE",
    "failed": "FAIL (not audited)",
    "unreachable": "FAIL (not audited)",
}


def _fleet_line(model):
    s = model["summary"]
    return (
        f"{s['hosts']} hosts: {s['compliant']} compliant, {s['drift']} drifted, "
        f"{s['incomplete']} incomplete, {s['failed']} failed, {s['unreachable']} unreachable, "
        f"{s['skipped']} skipped"
    )


def _md_row(cells):
    """A Markdown table row; the cells must already be escaped (md_text) or numbers."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _md_table(header, align, rows):
    lines = [_md_row(header), _md_row(align)]
    lines.extend(_md_row(r) for r in rows)
    lines.append("")
    return lines


def change_rows(model, limit=50):
    """(new, resolved, expiring) rows of the change section: [(host, rule, subject, date)]."""
    new, resolved = [], []
    for host in model["hosts"]:
        for f in host["findings"]:
            if f.get("change") == "new":
                new.append((host["host"], f["rule"], f["subject"], f.get("first_seen")))
        for r in (host.get("changes") or {}).get("resolved") or []:
            resolved.append((host["host"], r.get("rule"), r.get("subject"), r.get("first_seen")))
    expiring = [(w["host"], w["rule"], w["subject"], w["expires"]) for w in model["changes"]["waivers_expiring"]]
    return new[:limit], resolved[:limit], expiring[:limit]


def _md_changes(model):
    ch = model.get("changes")
    if not ch:
        return []
    since = md_text(ch["previous"]) if ch.get("previous") else "no previous report (every finding is new)"
    line = "Since %s: %d new, %d still open, %d resolved finding(s); %d waiver(s) expire within %d days." % (
        since, ch["new"], ch["open"], ch["resolved"], len(ch["waivers_expiring"]), ch["waiver_warn_days"])
    lines = ["## What changed", "", line, ""]
    new, resolved, expiring = change_rows(model)
    for title, rows, date in (("New", new, "first seen"), ("Resolved", resolved, "first seen"),
                              ("Waivers about to expire", expiring, "expires")):
        if rows:
            lines += ["### " + title, ""]
            lines += _md_table(("host", "rule", "subject", date), ("---",) * 4,
                               [[md_text(h), md_text(r), md_text(sub), md_text(d or "")] for h, r, sub, d in rows])
    return lines


def render_markdown(model):
    s = model["summary"]
    verdict = "**%s**" % _FLEET_MARK[model.get("verdict") or ("compliant" if model["compliant"] else "drift")]
    meta = "Generated " + md_text(model.get("generated"))
    if model.get("playbook"):
        meta += " by playbook " + md_text(model["playbook"])
    lines = ["# Socket audit report", "", f"{verdict} \u2014 {_fleet_line(model)}.", ""]
    lines += [meta + ".", ""]
    lines += _md_changes(model)
    lines += ["## Summary", ""]
    heads = SUMMARY_KEYS
    lines += _md_table(
        heads + ("errors", "warnings", "info"),
        ("---:",) * (len(heads) + 3),
        [[s[h] for h in heads] + [s["findings"][sev] for sev in SEVERITIES]],
    )

    rows = []
    for host in model["hosts"]:
        facts = host["facts"] or {}
        note = host["error"] or ""
        if not note and facts.get("complete") is False:
            note = "facts incomplete: " + "; ".join(to_text(r) for r in facts.get("reasons") or [])
        listeners = facts.get("listeners")
        rows.append(
            [md_text(host["host"]), _VERDICT_MARK[host["verdict"]]]
            + [host["counts"][sev] for sev in SEVERITIES]
            + [
                md_text(facts.get("backend") or ""),
                "" if listeners is None else int(listeners),
                md_text(note, LIMIT_SHORT * 2),
            ]
        )
    lines += ["## Hosts", ""]
    lines += _md_table(
        (
            "host",
            "verdict",
            "errors",
            "warnings",
            "info",
            "backend",
            "listeners",
            "note",
        ),
        ("---", "---", "---:", "---:", "---:", "---", "---:", "---"),
        rows,
    )

    lines += ["## Drift across hosts", ""]
    if not model["drift"]:
        lines += ["No drift.", ""]
    else:
        rows = []
        for group in model["drift"]:
            which = ", ".join(group["hosts"][:10])
            if len(group["hosts"]) > 10:
                which += f", \u2026 (+{len(group['hosts']) - 10})"
            rows.append(
                [
                    group["severity"],
                    md_text(group["rule"]),
                    md_text(group["label"]),
                    f"on {group['count']}/{group['total']} hosts",
                    md_text(which, LIMIT_SHORT * 3),
                ]
            )
        lines += _md_table(
            ("severity", "rule", "drift", "hosts", "which"),
            ("---", "---", "---", "---:", "---"),
            rows,
        )

    detailed = [h for h in model["hosts"] if h["findings"] or h["error"]]
    if detailed:
        lines += ["## Findings per host", ""]
    for host in detailed:
        lines += [
            f"### {md_text(host['host'])} \u2014 {_VERDICT_MARK[host['verdict']]}",
            "",
        ]
        if host["error"]:
            lines += ["Not audited: " + md_text(host["error"], LIMIT_LONG), ""]
        if host["findings"]:
            lines += _md_table(
                ("severity", "rule", "subject", "owner", "message", "source", "waived"),
                ("---",) * 7,
                [
                    [
                        f["severity"] + (" (waived)" if f.get("waived") else ""),
                        md_text(f["rule"]),
                        md_text(f["subject"]),
                        md_text(finding_owner(f)),
                        md_text(f.get("message"), LIMIT_SHORT * 3),
                        md_text(f.get("source")),
                        md_text(f.get("waived") or ""),
                    ]
                    for f in host["findings"]
                ],
            )
    return "\n".join(lines).rstrip("\n") + "\n"


# ---------------------------------------------------------------------------------------------
# HTML

_SEV_COLOR = {"error": "#c62828", "warning": "#ef6c00", "info": "#1565c0"}
_VERDICT_CLASS = {
    "compliant": "ok",
    "drift": "bad",
    "incomplete": "inc",
    "failed": "bad",
    "unreachable": "bad",
    "skipped": "skip",
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:1.5rem;color:#222;
background:#fafafa}
h1{margin:0 0 .3rem}h2{margin-top:2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem}
.meta{color:#666}
.verdict{display:inline-block;padding:.15rem .6rem;border-radius:.3rem;font-weight:600;color:#fff}
.ok{background:#2e7d32}.bad{background:#c62828}.inc{background:#8d5a00}.skip{background:#757575}
table{border-collapse:collapse;margin:.5rem 0;background:#fff}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
td{overflow-wrap:anywhere}th,td.rule{white-space:nowrap}
th{background:#eee}td.n{text-align:right;font-variant-numeric:tabular-nums}
.cards{display:flex;flex-wrap:wrap;gap:1rem}
.vf{margin:.2rem 0 .8rem}.vf label{margin-right:1rem;cursor:pointer}
#vf-bad:checked~.cards .card[data-verdict=compliant],#vf-bad:checked~.cards .card[data-verdict=skipped]{display:none}
#vf-drift:checked~.cards .card:not([data-verdict=drift]){display:none}
#vf-inc:checked~.cards .card:not([data-verdict=incomplete]){display:none}
#vf-down:checked~.cards .card:not([data-verdict=failed]):not([data-verdict=unreachable]){display:none}
.group-hosts{font-size:.85rem;overflow-wrap:anywhere}
.vf label{border-bottom:2px solid transparent}
#vf-all:checked~.vf label[for=vf-all],#vf-bad:checked~.vf label[for=vf-bad],#vf-drift:checked~.vf label[for=vf-drift],
#vf-inc:checked~.vf label[for=vf-inc],#vf-down:checked~.vf label[for=vf-down]{font-weight:bold;border-color:#1565c0}
.card{background:#fff;border:1px solid #ddd;border-radius:.4rem;padding:.6rem .8rem;width:22rem}
.card h3{margin:.1rem 0 .4rem;font-size:1rem;overflow-wrap:anywhere}
.err{color:#c62828;overflow-wrap:anywhere;white-space:pre-wrap}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;overflow-wrap:anywhere}
.trunc{color:#888}
details{margin:.3rem 0}
.sev-error{color:#c62828;font-weight:600}.sev-warning{color:#ef6c00;font-weight:600}
.sev-info{color:#1565c0}
.waived{color:#777;text-decoration:line-through}
"""


def _svg_chart(counts, scale, title):
    """A horizontal bar chart of findings by severity, as inline SVG (`title` escaped)."""
    width, bar_h, gap, label_w, num_w = 320, 18, 6, 70, 40
    track = width - label_w - num_w
    height = len(SEVERITIES) * (bar_h + gap) + gap
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}"><title>{title}</title>'
    )
    parts = [svg]
    for i, sev in enumerate(SEVERITIES):
        y = gap + i * (bar_h + gap)
        n = int(counts.get(sev, 0))
        w = max(2 if n else 0, round(track * n / float(scale or 1)))
        text_y = y + bar_h - 5
        parts.append(
            f'<text x="0" y="{text_y}" font-size="12" fill="#333">{sev}</text>'
            f'<rect x="{label_w}" y="{y}" width="{track}" height="{bar_h}" fill="#eee"/>'
            f'<rect class="bar bar-{sev}" x="{label_w}" y="{y}" width="{w}" '
            f'height="{bar_h}" fill="{_SEV_COLOR[sev]}"/>'
            f'<text x="{label_w + track + 6}" y="{text_y}" font-size="12" '
            f'fill="#333">{n}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _svg_not_audited(verdict, title):
    """The chart's place for a host that was not audited: a grey panel that says why."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart not-audited" role="img" width="320" '
        f'height="78" viewBox="0 0 320 78"><title>{title}</title>'
        '<rect x="0" y="6" width="320" height="66" fill="#eee"/>'
        f'<text x="160" y="44" font-size="14" text-anchor="middle" fill="#555">not audited ({verdict})</text>'
        "</svg>"
    )


def _html_cell(value, limit=LIMIT_SHORT, mono=False, cls=None):
    text = clean(value, limit)
    classes = " ".join(c for c in ("mono" if mono else None, cls) if c)
    attr = f' class="{classes}"' if classes else ""
    return f"<td{attr}>{html.escape(text, quote=True)}</td>"


# Above this many hosts, hosts that agree (audited, the same verdict, the same unwaived findings)
# share one card in the HTML page, so that 1,000 hosts stay readable.
GROUP_HOSTS_ABOVE = 50


def host_groups(hosts, above=GROUP_HOSTS_ABOVE):
    """([group, ...], [host, ...]): for more than `above` hosts, the audited hosts that agree
    (same verdict, same unwaived (rule, subject) findings) in groups of two or more, and the rest;
    for fewer, no group."""
    if len(hosts) <= above:
        return [], list(hosts)
    by = {}
    for host in hosts:
        if host["status"] != "ok":
            continue
        unwaived = sorted((f["rule"], to_text(f["subject"])) for f in host["findings"] if not f.get("waived"))
        key = (host["verdict"], tuple(unwaived))
        by.setdefault(key, []).append(host)
    grouped = set()
    groups = []
    for key in sorted(by, key=lambda k: (k[0] == "compliant", -len(by[k]), k)):
        members = by[key]
        if len(members) > 1:
            groups.append(members)
            grouped.update(h["host"] for h in members)
    return groups, [h for h in hosts if h["host"] not in grouped]


def render_html(model):
    s = model["summary"]
    e = html.escape
    out = []
    out.append("<!DOCTYPE html>")
    out.append('<html lang="en"><head><meta charset="utf-8">')
    out.append('<meta name="viewport" content="width=device-width, initial-scale=1">')
    out.append(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">"
    )
    out.append(f"<title>Socket audit report</title><style>{_CSS}</style></head><body>")
    fleet = model.get("verdict") or ("compliant" if model["compliant"] else "drift")
    out.append("<h1>Socket audit report</h1>")
    out.append(
        '<p><span class="verdict {}" id="fleet-verdict">{}</span> {}</p>'.format(
            _VERDICT_CLASS.get(fleet, "bad"),
            e(_FLEET_MARK[fleet]),
            e(_fleet_line(model)),
        )
    )
    meta = "Generated {}".format(html_text(model.get("generated")))
    if model.get("playbook"):
        meta += ' by playbook <span class="mono">{}</span>'.format(html_text(model["playbook"]))
    out.append(f'<p class="meta">{meta}</p>')

    ch = model.get("changes")
    if ch:
        since = html_text(ch["previous"]) if ch.get("previous") else "no previous report (every finding is new)"
        out.append('<h2 id="changes">What changed</h2>')
        out.append(f"<p>Since {since}: <b>{ch['new']:d} new</b>, {ch['open']:d} still open, {ch['resolved']:d} resolved "
                   f"finding(s); {len(ch['waivers_expiring']):d} waiver(s) expire within {ch['waiver_warn_days']:d} days.</p>")
        new, resolved, expiring = change_rows(model)
        for title, rows, date in (("New", new, "first seen"), ("Resolved", resolved, "first seen"),
                                  ("Waivers about to expire", expiring, "expires")):
            if rows:
                out.append(f"<h3>{title}</h3><table><tr><th>host</th><th>rule</th><th>subject</th><th>{date}</th></tr>")
                for h, r, sub, d in rows:
                    cells = (_html_cell(h), _html_cell(r, cls="rule"), _html_cell(sub, mono=True), _html_cell(d or ""))
                    out.append("<tr>%s</tr>" % "".join(cells))
                out.append("</table>")

    out.append("<h2>Summary</h2>")
    out.append('<table id="summary"><tr>')
    heads = SUMMARY_KEYS
    out.append("".join(f"<th>{h}</th>" for h in heads))
    out.append("<th>errors</th><th>warnings</th><th>info</th><th>waived</th></tr><tr>")
    out.append("".join(f'<td class="n">{s[h]:d}</td>' for h in heads))
    out.append(
        "".join(f'<td class="n">{s["findings"][sev]:d}</td>' for sev in SEVERITIES) + f'<td class="n">{s["waived"]:d}</td>'
    )
    out.append("</tr></table>")

    out.append("<h2>Drift across hosts</h2>")
    if not model["drift"]:
        out.append("<p>No drift.</p>")
    else:
        out.append('<table id="drift"><tr><th>severity</th><th>rule</th><th>drift</th><th>hosts</th><th>which</th></tr>')
        for group in model["drift"]:
            which = ", ".join(clean(h) for h in group["hosts"][:20])
            if len(group["hosts"]) > 20:
                which += f", \u2026 (+{len(group['hosts']) - 20} more)"
            out.append(
                f'<tr><td class="sev-{group["severity"]}">{group["severity"]}</td>'
                f"<td>{html_text(group['rule'])}</td>"
                f'<td class="mono">{html_text(group["label"])}</td>'
                f'<td class="n">on {group["count"]}/{group["total"]} hosts</td>'
                f"<td>{e(truncate(which, LIMIT_LONG))}</td></tr>"
            )
        out.append("</table>")

    out.append("<h2>Hosts</h2>")
    scale = max([1] + [max(h["counts"].values()) for h in model["hosts"]])
    # a filter by verdict without any script (the page runs none): radio buttons and CSS
    out.append('<input type="radio" name="vf" id="vf-all" checked hidden><input type="radio" name="vf" id="vf-bad" hidden>'
               '<input type="radio" name="vf" id="vf-drift" hidden><input type="radio" name="vf" id="vf-inc" hidden>'
               '<input type="radio" name="vf" id="vf-down" hidden>')
    out.append('<div class="vf">show: <label for="vf-all">all</label><label for="vf-bad">not compliant</label>'
               '<label for="vf-drift">drift</label><label for="vf-inc">incomplete</label>'
               '<label for="vf-down">failed / unreachable</label></div>')
    out.append('<div class="cards">')
    groups, singles = host_groups(model["hosts"])
    for group in groups:
        first = group[0]
        names = ", ".join(html_text(h["host"]) for h in group)
        out.append('<div class="card host group" data-verdict="{}">'.format(first["verdict"]))
        out.append('<h3>{} hosts <span class="verdict {}">{}</span></h3>'.format(
            len(group), _VERDICT_CLASS[first["verdict"]], first["verdict"]))
        out.append(_svg_chart(first["counts"], scale, "findings on each of %d hosts by severity" % len(group)))
        what = ", ".join(sorted({html_text(f["subject"]) for f in first["findings"] if not f.get("waived")})) or "no finding"
        out.append('<div class="meta">the same on each: {}</div>'.format(what))
        out.append('<details><summary>the {} hosts</summary><div class="group-hosts">{}</div></details>'.format(
            len(group), names))
        out.append("</div>")
    for host in singles:
        name = html_text(host["host"])
        facts = host["facts"] or {}
        out.append('<div class="card host" data-verdict="{}">'.format(host["verdict"]))
        out.append(
            '<h3>{} <span class="verdict {}">{}</span></h3>'.format(name, _VERDICT_CLASS[host["verdict"]], host["verdict"])
        )
        if host["status"] == "ok":
            out.append(_svg_chart(host["counts"], scale, f"findings on {name} by severity"))
        else:
            out.append(_svg_not_audited(host["verdict"], f"{name} was not audited"))
        if host["error"]:
            out.append('<div class="err">{}</div>'.format(html_text(host["error"], LIMIT_SHORT * 3, True)))
        if facts:
            bits = []
            if facts.get("backend"):
                bits.append("backend {}".format(html_text(facts["backend"])))
            if facts.get("listeners") is not None:
                bits.append(f"{int(facts['listeners'])} listeners")
            if facts.get("complete") is False:
                bits.append("<b>facts incomplete</b>")
            tcp = (facts.get("states") or {}).get("tcp") or {}
            if tcp:
                bits.append("tcp " + ", ".join(f"{html_text(k)} {int(v)}" for k, v in sorted(tcp.items())))
            out.append('<div class="meta">{}</div>'.format("; ".join(bits)))
        out.append("</div>")
    out.append("</div>")

    out.append("<h2>Findings</h2>")
    any_findings = False
    for host in model["hosts"]:
        if host["error"] and host["status"] != "ok":
            any_findings = True
            out.append(
                f"<details open><summary><b>{html_text(host['host'])}</b> \u2014 not audited "
                f"({host['verdict']})</summary>"
                f'<div class="err">{html_text(host["error"], LIMIT_LONG, True)}</div></details>'
            )
        if not host["findings"]:
            continue
        any_findings = True
        c = host["counts"]
        out.append(
            f"<details open><summary><b>{html_text(host['host'])}</b> \u2014 "
            f"{c['error']} error, {c['warning']} warning, {c['info']} info</summary>"
        )
        out.append(
            "<table><tr><th>severity</th><th>rule</th><th>subject</th><th>owner</th><th>message</th>"
            "<th>expected</th><th>actual</th><th>source</th><th>waived</th></tr>"
        )
        for f in host["findings"]:
            cls = ' class="waived"' if f.get("waived") else ""
            out.append(
                '<tr{}><td class="sev-{}">{}</td>{}{}{}{}{}{}{}{}</tr>'.format(
                    cls,
                    f["severity"],
                    f["severity"],
                    _html_cell(f["rule"], cls="rule"),
                    _html_cell(f["subject"], mono=True),
                    _html_cell(finding_owner(f), mono=True),
                    _html_cell(f.get("message"), LIMIT_SHORT * 3),
                    _html_cell(f.get("expected"), mono=True),
                    _html_cell(f.get("actual"), mono=True),
                    _html_cell(f.get("source"), mono=True),
                    _html_cell(f.get("waived") or ""),
                )
            )
        out.append("</table></details>")
    if not any_findings:
        out.append("<p>No findings.</p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------
# Writing

def render_sarif(model):
    """report.sarif (SARIF 2.1.0): see _report_sarif, the format's own file."""
    from ansible_collections.netaudit.netstat.plugins.plugin_utils import _report_sarif

    return _report_sarif.render_sarif(model)


RENDERERS = {
    "json": render_json,
    "junit": render_junit,
    "markdown": render_markdown,
    "html": render_html,
    "sarif": render_sarif,
}


def normalize_formats(formats):
    """Validated list of format names (aliases md/xml accepted), order kept, no duplicates."""
    if formats is None:
        return list(FORMATS)
    if isinstance(formats, str):
        formats = [f for f in re.split(r"[,\s]+", formats) if f]
    out = []
    for fmt in formats:
        name = FORMAT_ALIASES.get(to_text(fmt).strip().lower(), to_text(fmt).strip().lower())
        if name not in RENDERERS:
            raise ReportError("unknown report format {!r}; choose from {}".format(fmt, ", ".join(FORMATS)))
        if name not in out:
            out.append(name)
    return out


def _prepare_dir(path, directory, mode, what):
    """Create `path` (under `directory`); the file mode to write with (0666 minus the umask when
    `mode` is None). Raises ReportError."""
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise ReportError(f"cannot create {what} directory {directory}: {exc}") from exc
    if mode is None:
        umask = os.umask(0o022)
        os.umask(umask)
        mode = 0o666 & ~umask
    return mode


def write_files_atomic(directory, contents, mode=None, what="report"):
    """Write [(filename, text)] into `directory`: every file to a temporary file in the same
    directory first, then rename them all into place, so no file is ever seen half written and
    a failure before the renames leaves the old files as they were. `mode` defaults to 0666
    minus the umask. Raises ReportError naming the file that failed."""
    mode = _prepare_dir(directory, directory, mode, what)
    staged = []
    current = None
    try:
        for filename, text in contents:
            current = filename
            fd, tmp = tempfile.mkstemp(prefix="." + filename + ".", suffix=".tmp", dir=directory)
            staged.append((tmp, os.path.join(directory, filename)))
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
        for tmp, final in staged:
            current = os.path.basename(final)
            os.replace(tmp, final)
    except (OSError, UnicodeError) as exc:
        for tmp, _final in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise ReportError(f"cannot write {what} {current} in {directory}: {exc}") from exc
    return [final for _tmp, final in staged]


# The report directory holds each run's files in a set of their own and switches to a new set
# in one step (see write_report_set):
#
#   report_dir/latest -> .sets/<run id>      the current set (a symlink, replaced atomically)
#   report_dir/report.json -> latest/report.json, junit.xml -> latest/junit.xml, ...
#   report_dir/.sets/<run id>/               the current set and the previous one
#   report_dir/.sets/.tmp-<pid>-*            a set being written (removed by the next run when
#                                            its writer is gone)
SETS_DIR = ".sets"
LATEST = "latest"
KEEP_SETS = 2  # the current set and the previous one


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _remove_tree(path):
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def _symlink_atomic(target, link):
    """Make `link` a symlink to `target`, replacing whatever is there in one rename."""
    tmp = "%s.tmp-%d" % (link, os.getpid())
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.symlink(target, tmp)
    try:
        os.replace(tmp, link)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _stale_leftovers(directory, sets):
    """Temp files and sets a killed run left behind (their writer is gone)."""
    out = []
    for parent, names in ((sets, _listdir(sets)), (directory, _listdir(directory))):
        for name in names:
            if ".tmp-" not in name:
                continue
            pid = name.split(".tmp-", 1)[1].split("-", 1)[0].split(".", 1)[0]
            # another live writer's work in progress is left alone; this process's own
            # leftovers are from an earlier, interrupted write (one writer per process)
            if pid.isdigit() and int(pid) != os.getpid() and _pid_alive(int(pid)):
                continue
            out.append(os.path.join(parent, name))
    return out


def _listdir(path):
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def write_report_set(directory, contents, mode=None, what="report", keep=KEEP_SETS):
    """Write [(filename, text)] as one set into `directory` and switch to it in one step.

    The files are written and fsync'ed in a staging directory, which is renamed to
    ``.sets/<run id>``; then the ``latest`` symlink is replaced (one rename) to point at it, and
    each ``report_dir/<file>`` is (once) made a symlink to ``latest/<file>``. A run killed at
    any instant therefore leaves either the previous complete set or the new one behind every
    name, never a mix. The next run removes what a killed run left (staging directories and
    temp links whose writer is gone) and keeps the newest `keep` sets. Raises ReportError naming
    the file that failed.
    """
    sets = os.path.join(directory, SETS_DIR)
    latest = os.path.join(directory, LATEST)
    current = None
    mode = _prepare_dir(sets, directory, mode, what)
    for path in _stale_leftovers(directory, sets):
        if os.path.isdir(path) and not os.path.islink(path):
            _remove_tree(path)
        else:
            try:
                os.unlink(path)
            except OSError:
                pass
    names = [name for name, _text in contents]
    stage = final = None
    try:
        # A directory written by an older version holds plain files: keep them readable as the
        # current set (copies), so that replacing them by links never mixes two runs.
        if not os.path.islink(latest):
            plain_files = [n for n in FILENAMES.values() if os.path.isfile(os.path.join(directory, n))
                           and not os.path.islink(os.path.join(directory, n))]
            if plain_files:
                import shutil

                legacy = os.path.join(sets, "legacy")
                os.makedirs(legacy, exist_ok=True)
                for n in plain_files:
                    shutil.copy2(os.path.join(directory, n), os.path.join(legacy, n))
                _symlink_atomic(os.path.join(SETS_DIR, "legacy"), latest)
        stage = tempfile.mkdtemp(prefix=".tmp-%d-" % os.getpid(), dir=sets)
        for filename, text in contents:
            current = filename
            path = os.path.join(stage, filename)
            with open(path, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(path, mode)
        os.chmod(stage, (mode | 0o111) & 0o777 if mode & 0o444 else 0o700)
        run_id = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ") + "-%d" % os.getpid()
        final = os.path.join(sets, run_id)
        current = os.path.join(SETS_DIR, run_id)
        os.rename(stage, final)
        current = LATEST
        _symlink_atomic(os.path.join(SETS_DIR, run_id), latest)
        for filename in names:
            current = filename
            link = os.path.join(directory, filename)
            want = os.path.join(LATEST, filename)
            if not (os.path.islink(link) and os.readlink(link) == want):
                _symlink_atomic(want, link)
        # names of formats this run did not write would point at nothing: drop them
        for filename in FILENAMES.values():
            link = os.path.join(directory, filename)
            if filename not in names and os.path.islink(link) and os.readlink(link) == os.path.join(LATEST, filename):
                os.unlink(link)
    except (OSError, UnicodeError) as exc:
        # what this run staged and did not switch to is of no use: remove it
        for path in (stage, final):
            if path and os.path.isdir(path) and os.path.realpath(latest) != os.path.realpath(path):
                _remove_tree(path)
        raise ReportError(f"cannot write {what} {current} in {directory}: {exc}") from exc
    # keep the newest sets (the current one always)
    done = [n for n in _listdir(sets) if ".tmp-" not in n and n != run_id]
    for old in sorted(done, key=lambda n: (n != "legacy", n), reverse=True)[max(0, keep - 1):]:
        _remove_tree(os.path.join(sets, old))
    return [os.path.join(directory, n) for n in names]


def plain(value, finite=False):
    """Data as plain dict / list / str / int / float / bool / None: the tagged, lazy or proxy
    containers and strings ansible-core hands to plugins become their plain equivalents. With
    `finite`, NaN and infinities become text (strict JSON has no word for them)."""
    if isinstance(value, Mapping):
        return {_plain_str(k): plain(v, finite) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, finite) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        value = float(value)
        return str(value) if finite and not math.isfinite(value) else value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return _plain_str(value)


def _plain_str(value):
    """An exact str: ansible-core's unsafe text (a str subclass whose str() is itself, 2.16 to
    2.18) becomes plain text that yaml.safe_dump and json can write."""
    if isinstance(value, str):
        return str.__str__(value)
    return str.__str__(str(value))


def write_reports(model, directory, formats=None, fail_on="error"):
    """Render `model` in every requested format, then write the files atomically.

    Rendering happens before anything touches the disk, so a rendering error leaves the old
    reports in place. Returns {format: path}.
    """
    names = normalize_formats(formats)
    rendered = []
    for name in names:
        try:
            if name == "junit":
                text = render_junit(model, fail_on=fail_on)
            else:
                text = RENDERERS[name](model)
        except Exception as exc:  # noqa: BLE001 - a renderer bug must not leave half a report
            raise ReportError(f"cannot render {FILENAMES[name]}: {type(exc).__name__}: {exc}") from exc
        rendered.append((FILENAMES[name], text))
    paths = write_report_set(directory, rendered)
    return dict(zip(names, paths))
