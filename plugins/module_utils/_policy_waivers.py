# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Waivers: a finding matched like a rule and waived until its expiry; expired waivers.

This is a private module_utils file of netaudit.netstat, part of the policy engine whose entry
point is _policy.py; its API may change at any time. Standard library only, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.netaudit.netstat.plugins.module_utils._policy_base import (
    PolicyEvalError,
    _as_list,
    _bind_matches,
    _glob_match,
    _port_in,
    _source,
    parse_bind,
    parse_cidrs,
    parse_date,
    parse_ports,
)


def _finding_programs(finding):
    names = []
    for prog in finding.get("programs") or []:
        if isinstance(prog, dict):
            names.extend(n for n in (prog.get("name"), prog.get("exe")) if n)
            if prog.get("exe"):
                names.append(os.path.basename(prog["exe"]))
        elif prog:
            names.append(prog)
    return names


def _waiver_matches(waiver, finding, services=None):
    """Whether a waiver covers a finding. Each `match` key means what the same key means in an
    allow entry (ports as numbers, ranges or service names, the policy's `services` included;
    users as names or uids; programs as globs on name or executable) and is tested against the
    finding's structured fields, whatever the rule."""
    rules = _as_list(waiver.get("rule"))
    if rules and "*" not in rules and finding["rule"] not in rules:
        return False
    m = waiver.get("match") or {}
    for key, want in m.items():
        if key.startswith("__"):
            continue
        if key == "subject":
            if not _glob_match(_as_list(want), [finding["subject"]]):
                return False
        elif key == "proto":
            if finding.get("proto") not in [str(w).lower() for w in _as_list(want)]:
                return False
        elif key == "port":
            port = finding.get("port") if finding.get("port") is not None else finding.get("remote_port")
            try:
                if not _port_in(port, parse_ports(want, services)):
                    return False
            except PolicyEvalError:
                return False
        elif key in ("bind", "address", "peer"):
            if key == "peer":
                addr = finding.get("remote_address")
            else:
                addr = finding.get("address") if finding.get("address") is not None else finding.get("remote_address")
            if addr is None:
                return False
            try:
                matchers = parse_bind(want) if key == "bind" else parse_cidrs(want)
            except PolicyEvalError:
                return False
            if not _bind_matches(matchers, addr):
                return False
        elif key == "program":
            if not _glob_match(_as_list(want), _finding_programs(finding)):
                return False
        elif key == "user":
            values = [str(u) for u in finding.get("users") or []] + [str(u) for u in finding.get("uids") or []]
            if not _glob_match([str(w) for w in _as_list(want)], values):
                return False
        elif key == "path":
            if finding.get("path") is None or not _glob_match(_as_list(want), [finding["path"]]):
                return False
        elif key in ("unit", "container", "image"):
            values = list(finding.get(key + "s") or [])
            if key == "container":
                values += [c for cid in finding.get("container_ids") or [] for c in (cid, cid[:12])]
            if not _glob_match([str(w) for w in _as_list(want)], values):
                return False
        elif key == "netns":
            wants = [str(w) for w in _as_list(want)]
            label = finding.get("netns")
            if not ("any" in wants or (label is None and ("host" in wants or "primary" in wants))
                    or (label is not None and _glob_match(wants, [label]))):
                return False
        elif key == "state":
            if finding.get("state") not in _as_list(want):
                return False
        else:
            return False
    return True


def _apply_waivers(ctx):
    active = []
    for i, w in enumerate(ctx.policy.get("waivers") or []):
        if not isinstance(w, dict):
            raise PolicyEvalError("waivers[%d] must be a mapping" % i)
        src = _source(w)
        expires = parse_date(w.get("expires")) if w.get("expires") is not None else None
        rule = ",".join(str(r) for r in _as_list(w.get("rule"))) or "*"
        label = "waiver %s%s" % (
            rule,
            " " + _match_text(w.get("match")) if w.get("match") else "",
        )
        if expires is not None and expires < ctx.today:
            ctx.add(
                "expired-waiver",
                label,
                "a waiver valid today (%s)" % ctx.today.isoformat(),
                "expired on %s" % expires.isoformat(),
                "the waiver at %s (%s) expired on %s and no longer applies; renew it with a new "
                "date or fix the drift it covered and delete it"
                % (src or "waivers[%d]" % i, w.get("reason"), expires.isoformat()),
                source=src,
                severity=w.get("severity"),
                match={},
                sortkey=("", 0, label),
            )
            continue
        active.append((i, w, src, expires, label))
    used = set()
    for f in ctx.findings:
        if f["rule"] in ("expired-waiver", "unused-waiver"):
            continue
        for i, w, src, expires, _label in active:
            if _waiver_matches(w, f, ctx.services):
                f["waived"] = {
                    "reason": w.get("reason"),
                    "expires": expires.isoformat() if expires else None,
                    "source": src,
                }
                used.add(i)
                break
    for i, w, src, _expires, label in active:
        if i not in used:
            ctx.add(
                "unused-waiver",
                label,
                "a finding this waiver covers",
                "no matching finding",
                "the waiver at %s (%s) matches no finding any more; delete it" % (src or "waivers[%d]" % i, w.get("reason")),
                source=src,
                match={},
                sortkey=("", 0, label),
            )


def _match_text(m):
    if not isinstance(m, dict):
        return ""
    parts = []
    for k in sorted(k for k in m if not k.startswith("__")):
        v = m[k]
        parts.append("%s=%s" % (k, ",".join(str(x) for x in _as_list(v))))
    return " ".join(parts)
