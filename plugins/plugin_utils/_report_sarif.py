# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""report.sarif: the findings as SARIF 2.1.0, for GitHub / GitLab code scanning.

This is a private plugin_utils file of netaudit.netstat; its API may change at any time.

One run, tool ``netaudit.netstat``, one rule per rule id that appears (with its default level),
one result per finding: its level from the severity (error, warning, note), its message, and as
location the policy file and line of the rule involved (``source``), so that code scanning shows
the finding on the policy that was broken. The host, subject, expected and actual values and the
structured fields are the result's properties; ``partialFingerprints`` keep a finding the same
alert from run to run (host, rule, subject). A waived finding carries a suppression with the
waiver's reason. Hosts that could not be audited are tool execution notifications (they have no
rule and no policy line).
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from ansible_collections.netaudit.netstat.plugins.plugin_utils import _report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_URI = "https://galaxy.ansible.com/ui/repo/published/netaudit/netstat/"
LEVELS = {"error": "error", "warning": "warning", "info": "note"}
_SOURCE = re.compile(r"^(?P<path>.+?):(?P<line>\d+)(?::(?P<col>\d+))?$")

RULE_TEXT = {
    "unexpected-listener": "A socket listens that no allow entry of the policy matches (closed world).",
    "forbidden-listener": "A socket listens where a deny entry of the policy forbids it.",
    "missing-listener": "A listener the policy requires is not there.",
    "wrong-owner": "A listener is held by another program, unit, container or image than its rule allows.",
    "wrong-user": "A listener runs as another user than its rule allows.",
    "wrong-bind": "A listener is bound to another address class than its rule allows.",
    "state-threshold": "More (or fewer) sockets in a TCP/UDP/UNIX state than the policy's limit.",
    "queue-threshold": "A socket's queue is fuller than the policy allows.",
    "forbidden-peer": "Connections to a peer that an egress deny entry forbids.",
    "unexpected-peer": "Connections to a peer that no egress allow entry matches (closed world).",
    "unexpected-unix-socket": "A UNIX socket that no allow entry of the policy matches.",
    "forbidden-unix-socket": "A UNIX socket that a deny entry of the policy forbids.",
    "world-writable-unix-socket": "A world-writable UNIX socket the policy does not allow.",
    "incomplete-facts": "The facts could not show everything (owner unknown, not root, stale): the host cannot be judged"
                        " compliant.",
    "expired-waiver": "A waiver of the policy has expired.",
    "unused-waiver": "A waiver of the policy matched no finding.",
}


def _rule_name(rule):
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", rule) if part) or "Finding"


def _location(source):
    """A SARIF physicalLocation for a ``file:line`` source, relative to the current directory when
    the file is under it (uriBaseId SRCROOT), else as a file URI; None without a source."""
    if not source:
        return None
    m = _SOURCE.match(_report.to_text(source))
    path, line = (m.group("path"), int(m.group("line"))) if m else (_report.to_text(source), 1)
    artifact = {}
    absolute = os.path.abspath(path)
    cwd = os.getcwd()
    if absolute.startswith(cwd.rstrip("/") + "/"):
        artifact = {"uri": os.path.relpath(absolute, cwd).replace(os.sep, "/"), "uriBaseId": "SRCROOT"}
    else:
        artifact = {"uri": "file://" + absolute}
    region = {"startLine": max(1, line)}
    if m and m.group("col"):
        region["startColumn"] = max(1, int(m.group("col")))
    return {"artifactLocation": artifact, "region": region}


def _fingerprint(host, finding):
    key = "\0".join(_report.to_text(v) for v in (host, finding.get("rule"), finding.get("subject")))
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]


_PROPS = ("proto", "family", "address", "port", "remote_address", "remote_port", "path", "state", "users", "units",
          "containers", "images", "netns", "cause", "change", "first_seen")


def render_sarif(model):
    plain = _report.plain(model, finite=True)
    rules = []
    index = {}
    results = []
    notifications = []
    for host in plain["hosts"]:
        name = host["host"]
        if host["status"] in ("failed", "unreachable"):
            notifications.append({
                "level": "error",
                "message": {"text": "%s: not audited (%s): %s" % (name, host["status"], host.get("error") or "")},
                "descriptor": {"id": "host-%s" % host["status"]},
                "properties": {"host": name},
            })
            continue
        for f in host["findings"]:
            rule = f["rule"]
            if rule not in index:
                index[rule] = len(rules)
                rules.append({
                    "id": rule,
                    "name": _rule_name(rule),
                    "shortDescription": {"text": RULE_TEXT.get(rule, rule)},
                    "defaultConfiguration": {"level": LEVELS.get(f["severity"], "error")},
                    "properties": {"tags": ["netstat", "socket-policy"]},
                })
            result = {
                "ruleId": rule,
                "ruleIndex": index[rule],
                "level": LEVELS.get(f["severity"], "error"),
                "message": {"text": "%s: %s" % (name, _report.to_text(f.get("message") or f.get("subject")))},
                "partialFingerprints": {"netauditFinding/v1": _fingerprint(name, f)},
                "properties": {"host": name, "subject": f.get("subject"), "expected": f.get("expected"),
                               "actual": f.get("actual"), "programs": [p.get("name") for p in f.get("programs") or []]},
            }
            for key in _PROPS:
                if f.get(key) not in (None, []):
                    result["properties"][key] = f[key]
            location = _location(f.get("source"))
            if location is None and host.get("policies"):
                location = _location("%s:1" % host["policies"][0]) if isinstance(host["policies"][0], str) else None
            if location is not None:
                result["locations"] = [{"physicalLocation": location,
                                        "logicalLocations": [{"name": name, "kind": "module",
                                                              "fullyQualifiedName": "%s/%s" % (name, f.get("subject"))}]}]
            waived = f.get("waived")
            if waived:
                reason = waived.get("reason") if isinstance(waived, dict) else waived
                expires = waived.get("expires") if isinstance(waived, dict) else None
                result["suppressions"] = [{"kind": "external", "status": "accepted",
                                           "justification": "%s%s" % (_report.to_text(reason or "waived"),
                                                                      " (until %s)" % expires if expires else "")}]
            results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "netaudit.netstat", "informationUri": TOOL_URI, "rules": rules}},
            "originalUriBaseIds": {"SRCROOT": {"uri": "file://" + os.getcwd().rstrip("/") + "/"}},
            "invocations": [{
                "executionSuccessful": not notifications,
                "toolExecutionNotifications": notifications,
                "properties": {"verdict": plain.get("verdict"), "generated": plain.get("generated"),
                               "summary": plain.get("summary")},
            }],
            "results": results,
            "properties": {"playbook": plain.get("playbook")},
        }],
    }
    return json.dumps(log, indent=2, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n"
