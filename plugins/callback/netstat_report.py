# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
name: netstat_report
type: aggregate
short_description: Write a fleet socket-audit report (JSON, JUnit XML, Markdown, HTML)
version_added: 0.1.0
description:
  - Collects the result of every M(netaudit.netstat.netstat_audit) task, together with the
    failures and unreachable hosts of every play that runs one, and writes one report per run
    when the playbook ends.
  - Every host of such a play appears in the report. A host that failed or was unreachable before
    (or during) the audit is non-compliant with status C(failed) or C(unreachable) and the error
    message; a host for which the audit task was skipped appears with status C(skipped).
  - Files are C(report.json) (machine readable, every finding), C(junit.xml) (one test case per
    host and rule, for Jenkins and GitLab), C(report.md) (a summary for a merge request) and
    C(report.html) (one self-contained page with a chart per host and the drift grouped across
    hosts), and C(report.sarif) (SARIF 2.1.0 for GitHub / GitLab code scanning - one result per
    finding, located on the policy file and line of the rule involved). All requested files are
    rendered first and then written atomically, so a crash never leaves half a report.
  - Values that come from managed hosts (process names, command lines, paths) are escaped for
    each format; control characters are shown as C(\xNN) and very long strings are truncated
    visibly in the human formats. The JSON keeps them verbatim.
  - The facts summary of a host (backend, completeness, listener and state counts) comes from
    the C(ansible_facts.netstat) returned by M(netaudit.netstat.netstat_facts) or by the audit.
requirements:
  - Enable the callback in C(ansible.cfg) (C(callbacks_enabled = netaudit.netstat.netstat_report)
    under C([defaults])) or with E(ANSIBLE_CALLBACKS_ENABLED).
options:
  report_dir:
    description:
      - Directory the reports are written to; created when missing. Relative paths are relative
        to the current working directory of C(ansible-playbook).
    type: path
    default: ./reports
    env:
      - name: NETAUDIT_REPORT_DIR
    ini:
      - section: netstat_report
        key: report_dir
  formats:
    description:
      - Which reports to write.
    type: list
    elements: str
    choices: [json, junit, markdown, html, sarif]
    default: [json, junit, markdown, html, sarif]
    env:
      - name: NETAUDIT_REPORT_FORMATS
    ini:
      - section: netstat_report
        key: formats
  junit_fail_on:
    description:
      - Lowest severity of an unwaived finding that makes a JUnit test case fail. Hosts that failed
        or were unreachable are always JUnit errors.
    type: str
    choices: [error, warning, info]
    default: error
    env:
      - name: NETAUDIT_REPORT_JUNIT_FAIL_ON
    ini:
      - section: netstat_report
        key: junit_fail_on
  compare_with:
    description:
      - The report.json of a previous run to compare with. Each unwaived finding is then marked
        C(new) or C(open) (with the date it was first seen, carried from run to run), the findings
        of the previous run that are gone are listed as resolved per host, and the Markdown and
        HTML reports lead with what changed.
      - Default - the report this directory holds from the previous run (C(report_dir/latest)),
        when there is one; V(none) compares with nothing.
    type: str
    env:
      - name: NETAUDIT_REPORT_COMPARE_WITH
    ini:
      - section: netstat_report
        key: compare_with
  waiver_warn_days:
    description:
      - Waivers that expire within this many days are listed in the change section, before they do.
    type: int
    default: 14
    env:
      - name: NETAUDIT_REPORT_WAIVER_WARN_DAYS
    ini:
      - section: netstat_report
        key: waiver_warn_days
  progress_every:
    description:
      - Print a line C(netstat_report - N/TOTAL hosts audited) every this many hosts (V(0) never). Default
        - about every tenth of the hosts of the play, at least every 10, for plays of 20 hosts or more.
    type: int
    env:
      - name: NETAUDIT_REPORT_PROGRESS_EVERY
    ini:
      - section: netstat_report
        key: progress_every
seealso:
  - module: netaudit.netstat.netstat_audit
  - module: netaudit.netstat.netstat_facts
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = netaudit.netstat.netstat_report
#
# [netstat_report]
# report_dir = ./reports
# formats = json, junit, markdown, html

# Or for one run:
# NETAUDIT_REPORT_DIR=out ANSIBLE_CALLBACKS_ENABLED=netaudit.netstat.netstat_report \
#   ansible-playbook netaudit.netstat.audit -i inventory
"""

import os
from collections.abc import Mapping

from ansible.plugins.callback import CallbackBase
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _console, _fleet, _report

AUDIT_ACTIONS = frozenset(("netaudit.netstat.netstat_audit", "netstat_audit"))
AUDIT_KEY = "netstat_audit"


def _attr(result, name):
    """``result.task`` on ansible-core 2.19+, ``result._task`` before."""
    try:
        return getattr(result, name)
    except AttributeError:
        return getattr(result, "_" + name)


def is_audit_task(task, resolved=True):
    """Whether a task runs netstat_audit. `resolved` uses the FQCN that ansible-core resolved,
    which is only safe in the v2_runner_on_* events; before them, use the action as written."""
    action = None
    if resolved:
        try:
            action = task.resolved_action
        except Exception:  # noqa: BLE001 - resolved_action raises on unresolvable templates
            action = None
    return (action or getattr(task, "action", None)) in AUDIT_ACTIONS


def _walk_tasks(blocks):
    """Every task of a list of blocks (block, rescue, always; nested blocks included)."""
    for block in blocks or []:
        if hasattr(block, "block"):
            for section in ("block", "rescue", "always"):
                yield from _walk_tasks(getattr(block, section, None) or [])
        else:
            yield block


def play_has_audit(play):
    """Whether a play statically contains an audit task (its own tasks and its roles).
    Audits in dynamic includes are noticed later, when their task starts."""
    try:
        blocks = list(play.compile())
    except Exception:  # noqa: BLE001 - a play we cannot inspect is simply not known
        return False
    return any(is_audit_task(task, resolved=False) for task in _walk_tasks(blocks))


def audit_payload(result):
    """The audit part of a task result: the ``netstat_audit`` key, or the result itself when it
    carries ``compliant`` and ``findings``; for a loop, the items merged. None when absent."""
    if not isinstance(result, Mapping):
        return None
    if isinstance(result.get(AUDIT_KEY), Mapping):
        payload = _report.plain(result[AUDIT_KEY])
        if "findings" not in payload:  # the action keeps them once, at the top of its result
            payload["findings"] = _report.plain(result.get("findings") or [])
        return payload
    if "findings" in result and "compliant" in result:
        keep = (
            "verdict",
            "compliant",
            "counts",
            "findings",
            "policies",
            "fail_on",
            "facts_summary",
        )
        return {k: _report.plain(result[k]) for k in keep if k in result}
    items = result.get("results")
    if isinstance(items, list):
        payloads = [p for p in (audit_payload(i) for i in items) if p is not None]
        if payloads:
            return merge_payloads(payloads)
    return None


def merge_payloads(payloads):
    merged = {"compliant": True, "findings": [], "policies": []}
    for p in payloads:
        merged["compliant"] = merged["compliant"] and bool(p.get("compliant", True))
        merged["findings"].extend(p.get("findings") or [])
        merged["policies"].extend(p.get("policies") or [])
    return merged


def netstat_facts(result):
    """``ansible_facts.netstat`` from a task result (or its loop items), else None."""
    if not isinstance(result, Mapping):
        return None
    facts = result.get("ansible_facts")
    if isinstance(facts, Mapping) and isinstance(facts.get("netstat"), Mapping):
        return _report.plain(facts["netstat"])
    for item in result.get("results") or []:
        found = netstat_facts(item)
        if found is not None:
            return found
    return None


def error_message(result, task_name=None):
    """A one-line account of a failed or unreachable task result."""
    msg = None
    if isinstance(result, Mapping):
        msg = result.get("msg") or result.get("reason") or result.get("stderr")
        if not msg and isinstance(result.get("results"), list):
            for item in result["results"]:
                if isinstance(item, Mapping) and item.get("failed"):
                    msg = item.get("msg")
                    break
    msg = _report.to_text(_report.plain(msg)) if msg else "failed"
    if task_name:
        return f"task {task_name!r}: {msg}"
    return msg


class HostRecord:
    """What the callback learned about one host during the run."""

    __slots__ = ("audit", "error", "facts", "skipped", "status", "task")

    def __init__(self):
        self.status = None  # failed | unreachable, until an audit result arrives
        self.error = None
        self.audit = None
        self.facts = None
        self.skipped = False
        self.task = None

    def entry(self):
        if self.audit is not None:
            audit = self.audit
            facts = self.facts or audit.get("facts_summary") or audit.get("facts")
            return {
                "status": "ok",
                "verdict": audit.get("verdict"),
                "fail_on": audit.get("fail_on"),
                "compliant": audit.get("compliant"),
                "counts": audit.get("counts"),
                "findings": audit.get("findings") or [],
                "policies": audit.get("policies") or [],
                "facts": facts,
                "task": self.task,
            }
        if self.status in ("failed", "unreachable"):
            return {"status": self.status, "error": self.error, "facts": self.facts}
        note = "audit task skipped" if self.skipped else "not audited: no netstat_audit result"
        return {"status": "skipped", "error": note, "facts": self.facts}


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "netaudit.netstat.netstat_report"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display=None):
        super().__init__(display=display)
        self.records = {}  # every host seen in any play: failures, facts, audit results
        self.audit_hosts = set()  # hosts of the plays that run an audit: the report's hosts
        self.playbook = None
        self._play_hosts = []
        self._play_audits = False
        self._done = set()  # hosts of the current play with an audit result (progress)

    # -- collection -----------------------------------------------------------------------

    def _record_for(self, name):
        name = str(name)
        record = self.records.get(name)
        if record is None:
            record = self.records[name] = HostRecord()
        if self._play_audits:
            self.audit_hosts.add(name)
        return record

    def _mark_audit_play(self):
        if not self._play_audits:
            self._play_audits = True
            self.audit_hosts.update(self._play_hosts)

    def v2_playbook_on_start(self, playbook):
        name = getattr(playbook, "_file_name", None)
        self.playbook = str(name) if name else None

    def v2_playbook_on_play_start(self, play):
        self._play_audits = False
        self._done = set()
        try:
            inventory = play.get_variable_manager()._inventory
            hosts = inventory.get_hosts(play.hosts, order=getattr(play, "order", None))
            self._play_hosts = [h.get_name() for h in hosts]
        except Exception:  # noqa: BLE001 - the hosts still arrive with their results
            self._play_hosts = []
        if play_has_audit(play):
            self._mark_audit_play()

    def v2_playbook_on_task_start(self, task, is_conditional):
        if is_audit_task(task, resolved=False):
            self._mark_audit_play()

    def _record(self, result, failed=False, ignore_errors=False):
        task = _attr(result, "task")
        data = _attr(result, "result")
        audit = is_audit_task(task) or (isinstance(data, Mapping) and AUDIT_KEY in data)
        if audit:
            self._mark_audit_play()
        record = self._record_for(_attr(result, "host").get_name())
        facts = netstat_facts(data)
        if facts is not None:
            # what the reports need of the facts, not the facts: a fleet of 1,000 hosts must not
            # keep 1,000 socket tables in the controller's memory
            record.facts = _report.facts_summary(facts)
        if audit:
            payload = audit_payload(data)
            if payload is not None:
                record.audit = payload
                record.task = task.get_name()
                self._progress(_attr(result, "host").get_name())
                return
        if failed and not ignore_errors and record.audit is None:
            record.status = "failed"
            record.error = error_message(data, task.get_name())
            if self._play_audits:
                self._progress(_attr(result, "host").get_name())

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True, ignore_errors=ignore_errors)

    def v2_runner_on_unreachable(self, result):
        record = self._record_for(_attr(result, "host").get_name())
        if record.audit is None:
            record.status = "unreachable"
            task = _attr(result, "task")
            record.error = error_message(_attr(result, "result"), task.get_name())
            if self._play_audits:
                self._progress(_attr(result, "host").get_name())

    def v2_runner_on_skipped(self, result):
        if is_audit_task(_attr(result, "task"), resolved=False):
            self._mark_audit_play()
            self._record_for(_attr(result, "host").get_name()).skipped = True

    # -- output ---------------------------------------------------------------------------

    def build_model(self):
        names = set(self.audit_hosts)
        names.update(n for n, r in self.records.items() if r.audit is not None)
        entries = {}
        for name in names:
            record = self.records.get(name) or HostRecord()
            entries[name] = record.entry()
        return _report.build_report(entries, playbook=self.playbook)

    def _previous(self, directory):
        """The previous report model to compare with, None (no previous report: every finding is
        new), or False (comparison off)."""
        model, warning = _fleet.previous(directory, self.get_option("compare_with"))
        if warning:
            self._display.warning("netstat_report: %s" % warning)
        return model

    def _progress(self, name):
        """A line every N hosts done (N: the option, or about a tenth of the play), never a flood."""
        if name in self._done:
            return
        self._done.add(name)
        total = len(self._play_hosts)
        every = self.get_option("progress_every")
        if every is None:
            every = 0 if total < 20 else max(10, total // 10)
        if every and (len(self._done) % every == 0 or len(self._done) == total):
            self._display.display("netstat_report: %d/%d hosts audited" % (len(self._done), total))

    def v2_playbook_on_stats(self, stats):
        if not self.audit_hosts and not any(r.audit for r in self.records.values()):
            self._display.vvv("netstat_report: no play ran netstat_audit; no report written")
            return
        model = self.build_model()
        directory = self.get_option("report_dir")
        previous = self._previous(directory)
        if previous is not False:
            _fleet.compare(model, previous, waiver_warn_days=self.get_option("waiver_warn_days"))
        try:
            paths = _report.write_reports(
                model,
                directory,
                formats=self.get_option("formats"),
                fail_on=self.get_option("junit_fail_on"),
            )
        except _report.ReportError as exc:
            self._display.error(f"netstat_report: no report written: {exc}")
            return
        s = model["summary"]
        verdict = model.get("verdict") or ("compliant" if model["compliant"] else "drift")
        verdict = "compliant" if verdict == "compliant" else "NOT compliant (%s)" % verdict
        self._display.display(
            _console.console_text(
                f"netstat_report: fleet {verdict} ({s['hosts']} hosts: {s['compliant']} compliant, "
                f"{s['drift']} drifted, {s['incomplete']} incomplete, {s['failed']} failed, "
                f"{s['unreachable']} unreachable, {s['skipped']} skipped); reports in {directory}: "
                f"{', '.join(sorted(os.path.basename(p) for p in paths.values()))}",
                limit=0,
            )
        )
