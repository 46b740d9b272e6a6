# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fleet views built from report models: slices merged into one report, and what changed since
a previous report (new, still open, resolved findings; waivers about to expire).

This is a private plugin_utils file of netaudit.netstat; its API may change at any time.
Standard library only, no Ansible imports (the collection's own modules aside): the report
callback, the netstat_report_merge action, the Salt runner and the scripts call these functions.

A merged report is what one unsliced run over the same hosts writes: the host entries of
report.json are the report writer's own input shape (normalize_host reads them back unchanged),
so the four files differ only in the run metadata (``generated``, ``playbook``, ``merged``).
"""

from __future__ import annotations

import datetime
import json
import os

from ansible_collections.netaudit.netstat.plugins.plugin_utils import _audit, _report


class MergeError(ValueError):
    """A slice cannot be merged; the message names the file and what to do."""


def read_model(path):
    """A report.json as a model dict; MergeError naming the file when it is not one."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as exc:
        raise MergeError("%s: cannot be read: %s" % (path, exc.strerror or exc))
    except ValueError as exc:
        raise MergeError("%s: not a report.json (invalid JSON: %s)" % (path, exc))
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), list):
        raise MergeError("%s: not a report.json of netaudit.netstat (no hosts list)" % path)
    for i, host in enumerate(data["hosts"]):
        if not isinstance(host, dict) or not isinstance(host.get("host"), str):
            raise MergeError("%s: hosts[%d] is not a host entry (no host name)" % (path, i))
    return data


def _generated(model):
    text = model.get("generated")
    if isinstance(text, str):
        try:
            return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            pass
    return datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)


def merge(slices, expected_hosts=None, playbook=None, generated=None):
    """One report model from slices: [(label, model)]. A host in several slices keeps the entry of
    the slice generated last (the later one in the list on a tie), and the merge metadata says
    which it dropped; a host of `expected_hosts` (an inventory) in no slice is reported as not
    audited (failed)."""
    chosen = {}  # host -> (generated, order, label, entry)
    duplicates = {}
    for order, (label, model) in enumerate(slices):
        when = _generated(model)
        for entry in model["hosts"]:
            name = entry["host"]
            prev = chosen.get(name)
            cand = (when, order, label, entry)
            if prev is not None:
                keep, drop = (cand, prev) if (when, order) >= (prev[0], prev[1]) else (prev, cand)
                duplicates.setdefault(name, []).append(drop[2])
                chosen[name] = keep
            else:
                chosen[name] = cand
    entries = {name: dict(c[3]) for name, c in chosen.items()}
    missing = sorted(set(expected_hosts or []) - set(entries))
    for name in missing:
        entries[name] = {"status": "failed", "error": "not audited: the host is in the inventory but in no slice's report"}
    meta = {
        "merged": {
            "slices": [{"report": label, "generated": m.get("generated"), "hosts": len(m["hosts"])} for label, m in slices],
            "duplicates": [{"host": h, "kept": chosen[h][2], "dropped": sorted(set(d))} for h, d in sorted(duplicates.items())],
            "not_audited": missing,
        }
    }
    return _report.build_report(entries, playbook=playbook, generated=generated, extra=meta)


def merge_files(paths, expected_hosts=None, playbook=None, compare_with=None, waiver_warn_days=14):
    """merge() of report.json files (a directory stands for its report.json), compared with the
    report.json `compare_with` (or with nothing: every finding new), as the report callback does."""
    if not paths:
        raise MergeError("no slice to merge: give the report.json of each slice (or its report directory)")
    slices = []
    for path in paths:
        if os.path.isdir(path):
            path = os.path.join(path, "report.json")
        slices.append((path, read_model(path)))
    model = merge(slices, expected_hosts=expected_hosts, playbook=playbook)
    return compare(model, read_model(compare_with) if compare_with else None, waiver_warn_days=waiver_warn_days)


def publish(model, directory, formats=None, fail_on="error", compare_with=None, waiver_warn_days=14):
    """Compare `model` with the previous report (see previous()) and write its report files to
    `directory` as the report callback does. Returns ({format: path}, [warnings]); raises
    _report.ReportError when nothing could be written."""
    before, warning = previous(directory, compare_with)
    if before is not False:
        compare(model, before, waiver_warn_days=waiver_warn_days)
    paths = _report.write_reports(model, directory, formats=formats, fail_on=fail_on)
    return paths, [warning] if warning else []


def exit_code(model):
    """The audit gate's exit code for a fleet: 0 compliant, 1 drift, 3 incomplete, 4 a host could
    not be audited (failed, unreachable, not audited)."""
    return _audit.exit_code(model.get("verdict"))


# ---------------------------------------------------------------------------------------------
# what changed since the previous report


def previous(directory, compare_with=None):
    """(model, warning) of the report to compare a new one with: `compare_with` (a report.json;
    "none" turns comparison off: model False), else the last report written to `directory`.
    model None: no previous report (every finding is new); warning: text to show, or None."""
    if compare_with and str(compare_with).lower() == "none":
        return False, None
    path = compare_with or os.path.join(directory, _report.LATEST, "report.json")
    if not os.path.exists(path):
        return None, ("compare_with %s does not exist; every finding is new" % path) if compare_with else None
    try:
        return read_model(path), None
    except MergeError as exc:
        return None, "cannot compare with the previous report: %s" % exc


def finding_key(host, finding):
    """What makes a finding the same one from run to run: host, rule and subject."""
    return (host, finding.get("rule"), _report.to_text(finding.get("subject")))


def _today(today):
    if today is None:
        return datetime.datetime.now(datetime.timezone.utc).date()
    if isinstance(today, str):
        return datetime.date.fromisoformat(today)
    return today


def compare(model, previous, today=None, waiver_warn_days=14):
    """Mark `model` (in place, and return it) against the `previous` report model: each unwaived
    finding gets ``change`` (new | open) and ``first_seen`` (a date: carried over from the
    previous report, or the date of this one); ``changes`` lists per host and for the fleet what
    is new, still open and resolved (findings of the previous report that are gone, of hosts
    audited both times), and the waivers that expire within `waiver_warn_days` days."""
    today = _today(today)
    this_date = _generated(model).date().isoformat() if model.get("generated") else today.isoformat()
    before = {}  # finding key -> the previous finding
    before_by_host = {}  # host -> [key], to find what is gone without scanning every host's findings
    audited_before = set()
    if previous is not None:
        for host in previous.get("hosts") or []:
            if not isinstance(host, dict):
                continue
            if host.get("status") == "ok":
                audited_before.add(host.get("host"))
            for f in host.get("findings") or []:
                if isinstance(f, dict) and not f.get("waived"):
                    key = finding_key(host.get("host"), f)
                    if key not in before:
                        before_by_host.setdefault(host.get("host"), []).append(key)
                    before[key] = f
    fleet = {"new": 0, "open": 0, "resolved": 0}
    hosts_changes = []
    for host in model["hosts"]:
        name = host["host"]
        now_keys = set()
        new, still = [], []
        for f in host["findings"]:
            key = finding_key(name, f)
            now_keys.add(key)  # a finding waived since is not resolved: it is still there
            if f.get("waived"):
                continue
            old = before.get(key)
            if old is None:
                f["change"] = "new"
                f["first_seen"] = this_date
                new.append(f)
            else:
                f["change"] = "open"
                f["first_seen"] = old.get("first_seen") or (previous.get("generated") or this_date)[:10]
                still.append(f)
        resolved = []
        if host["status"] == "ok" and name in audited_before:
            gone = sorted((key for key in before_by_host.get(name, ()) if key not in now_keys),
                          key=lambda k: tuple(str(x) for x in k))
            for key in gone:
                old = before[key]
                resolved.append({"rule": old.get("rule"), "subject": old.get("subject"), "severity": old.get("severity"),
                                 "first_seen": old.get("first_seen")})
        host["changes"] = {"new": len(new), "open": len(still), "resolved": resolved}
        fleet["new"] += len(new)
        fleet["open"] += len(still)
        fleet["resolved"] += len(resolved)
        if new or resolved:
            hosts_changes.append(name)
    expiring = []
    for host in model["hosts"]:
        for f in host["findings"]:
            waived = f.get("waived")
            expires = waived.get("expires") if isinstance(waived, dict) else None
            if not expires:
                continue
            try:
                days = (datetime.date.fromisoformat(str(expires)[:10]) - today).days
            except ValueError:
                continue
            if 0 <= days <= int(waiver_warn_days):
                expiring.append({"host": host["host"], "rule": f.get("rule"), "subject": f.get("subject"),
                                 "expires": str(expires)[:10], "days": days, "reason": waived.get("reason")})
    expiring.sort(key=lambda e: (e["expires"], e["host"], str(e["subject"])))
    model["changes"] = {
        "previous": previous.get("generated") if previous is not None else None,
        "new": fleet["new"],
        "open": fleet["open"],
        "resolved": fleet["resolved"],
        "hosts_changed": hosts_changes,
        "waivers_expiring": expiring,
        "waiver_warn_days": int(waiver_warn_days),
    }
    return model
