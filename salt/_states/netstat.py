# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Salt state module ``netstat`` of netaudit.netstat: ``netstat.compliant`` checks the minion's
sockets against policies with the execution module's ``netstat.audit`` (the collection's engine).

.. code-block:: yaml

    sockets-match-policy:
      netstat.compliant:
        - policy:
          - salt://policies/base.yml
          - salt://policies/web.yml
        - fail_on: error

    # the state's name as the policy
    salt://policies/web.yml:
      netstat.compliant: []

The state changes nothing: ``changes`` is always empty. It passes when the minion complies (the
findings, waived ones included, are in the comment), fails with the findings otherwise, and with
``test=True`` reports what it would say without failing (result None when it would fail).
"""

from __future__ import absolute_import, division, print_function

# Salt's loader gives this module __salt__, __opts__, __context__ and __utils__ (ruff knows them
# as builtins, see ruff.toml; pylint does not).
# pylint: disable=undefined-variable

__virtualname__ = "netstat"


def __virtual__():
    if "netstat.audit" in __salt__:
        return __virtualname__
    return False, "netstat: the netstat execution module is not loaded (run saltutil.sync_all)"


def _is_policy(name):
    text = str(name or "").strip()
    return text.startswith(("salt://", "netaudit.netstat/", "/")) or text.endswith((".yml", ".yaml"))


def compliant(name, policy=None, fail_on="error", allow_incomplete=False, saltenv=None, **kwargs):
    """Pass when the minion's sockets comply with ``policy``.

    name
        The state's ID; used as the policy when ``policy`` is not given and it names one
        (salt://..., netaudit.netstat/..., a path, a .yml file).
    policy
        As netstat.audit: a policy or a list (salt://, netaudit.netstat/NAME, a minion path, a
        mapping). Default: the pillar ``netaudit_netstat:policies``, else netaudit.netstat/default.yml.
    fail_on, allow_incomplete, saltenv
        As netstat.audit. Other keyword arguments are netstat.facts options for the gather.
    """
    ret = {"name": name, "changes": {}, "result": None, "comment": ""}
    if policy is None and _is_policy(name):
        policy = name
    gather = dict((k, v) for k, v in kwargs.items() if not str(k).startswith("__"))
    host = __salt__["netstat.audit"](
        policy=policy, fail_on=fail_on, allow_incomplete=allow_incomplete, saltenv=saltenv, gather=gather
    )
    verdict = host.get("verdict")
    lines = list(host.get("console") or [])
    if not lines:
        lines = ["%s: %s" % (str(verdict).upper(), host.get("error") or "no result")]
    ok = verdict == "compliant"
    if ok:  # below fail_on or waived: listed too, a pass says what it passed over
        for f in host.get("findings") or []:
            waived = f.get("waived")
            lines.append("  %s %s %s: %s%s" % (
                f.get("severity"), f.get("rule"), f.get("subject"), f.get("message"),
                " (waived: %s)" % waived.get("reason") if isinstance(waived, dict) else ""))
    test = bool(__opts__.get("test"))
    if ok:
        ret["result"] = True
    elif test:
        ret["result"] = None
        lines.insert(0, "test mode: the minion does not comply (%s); the state would fail" % verdict)
    else:
        ret["result"] = False
    ret["comment"] = "\n".join(lines)
    return ret
