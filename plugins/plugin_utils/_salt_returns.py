# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Report entries from Salt returns of ``netstat.audit``: what ``salt '*' netstat.audit --out json``
prints, or what the ``netstat.report`` runner collects, becomes the report writer's input (the
same four files as the Ansible callback writes, every targeted minion in them).

This is a private plugin_utils file of netaudit.netstat; its API may change at any time.
Standard library only, no Ansible or Salt imports: the runner and scripts/salt-report.py call it.

A minion's return is one of:

- the host result of netstat.audit (a mapping with ``verdict``): audited, or ``failed`` with its
  ``error`` (a policy error, a gather that failed);
- Salt's text for a minion that did not answer ("Minion did not return. [No response]" or
  "[Not connected]"): unreachable;
- anything else (Salt's "'netstat.audit' is not available.", a traceback, an error text): failed,
  with that text;
- a full return (``{"ret": ..., "retcode": ...}``, from ``--out json --static`` with
  ``--return-full`` or the runner): its ``ret`` is read as above.

A minion that was targeted (``expected``) and is in no return is unreachable: no answer at all.
"""

from __future__ import annotations

import json

from ansible_collections.netaudit.netstat.plugins.plugin_utils import _report

NO_RETURN = "Minion did not return"


class ReturnsError(ValueError):
    """The input is not Salt's JSON output; the message says where and what was expected."""


def parse_output(text, source="<stdin>"):
    """{minion: return} from Salt's JSON output: one document (``--static``) or one document per
    minion (``--out json`` without ``--static``), concatenated."""
    decoder = json.JSONDecoder()
    out = {}
    pos = 0
    n = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        try:
            doc, pos = decoder.raw_decode(text, pos)
        except ValueError as exc:
            raise ReturnsError("%s: not Salt's JSON output (--out json): %s" % (source, exc))
        n += 1
        if not isinstance(doc, dict):
            raise ReturnsError("%s: document %d is not a mapping of minion ids to returns" % (source, n))
        out.update(doc)
    if not n:
        raise ReturnsError("%s: empty: no minion returned anything (was the target right?)" % source)
    return out


def _text(value):
    return _report.to_text(value)


def entry(ret):
    """The report entry (see _report.normalize_host) of one minion's return."""
    if isinstance(ret, dict) and "verdict" not in ret and "ret" in ret:
        ret = ret["ret"]
    if isinstance(ret, str):
        if ret.startswith(NO_RETURN):
            return {"status": "unreachable", "error": ret.strip()}
        return {"status": "failed", "error": ret.strip() or "empty return"}
    if not isinstance(ret, dict):
        return {"status": "failed", "error": "not a netstat.audit result: %s" % _text(ret)[:200]}
    verdict = ret.get("verdict")
    if verdict not in ("compliant", "drift", "incomplete"):
        return {"status": "failed", "error": _text(ret.get("error") or "no verdict in the return (verdict %r)" % (verdict,)),
                "policies": ret.get("policies") or []}
    return {
        "status": "ok",
        "verdict": verdict,
        "fail_on": ret.get("fail_on"),
        "compliant": ret.get("compliant"),
        "counts": ret.get("counts"),
        "findings": ret.get("findings") or [],
        "policies": ret.get("policies") or [],
        "facts": ret.get("facts_summary") or ret.get("facts"),
        "task": "netstat.audit",
    }


def entries(returns, expected=None):
    """{minion: entry} for every minion of `returns` and of `expected` (targeted minions: those
    with no return are unreachable)."""
    out = {}
    for minion, ret in (returns or {}).items():
        out[_text(minion)] = entry(ret)
    for minion in expected or ():
        name = _text(minion)
        if name not in out:
            out[name] = {"status": "unreachable", "error": "%s. [No response]: targeted, no return at all" % NO_RETURN}
    return out


def build(returns, expected=None, playbook="salt netstat.audit", generated=None):
    """The report model of a Salt run (see _report.build_report)."""
    return _report.build_report(entries(returns, expected), playbook=playbook, generated=generated)
