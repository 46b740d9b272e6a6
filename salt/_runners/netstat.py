# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Salt runner ``netstat`` of netaudit.netstat: audit the targeted minions with ``netstat.audit``
and write the fleet reports (report.json, junit.xml, report.md, report.html, report.sarif) with
the collection's report writer, every targeted minion in them (those that do not answer as
unreachable). Run on the master after ``salt-run saltutil.sync_all``.

CLI Example::

    salt-run netstat.report
    salt-run netstat.report tgt='web*' policy=salt://policies/web.yml dest=/srv/reports/sockets
    salt-run netstat.report tgt='G@role:db' tgt_type=compound fail_on=warning timeout=60
"""

from __future__ import absolute_import, division, print_function

# Salt's loader gives this module __salt__, __opts__, __context__ and __utils__ (ruff knows them
# as builtins, see ruff.toml; pylint does not).
# pylint: disable=undefined-variable

import os

__virtualname__ = "netstat"


def __virtual__():
    if "netaudit_netstat_engine.controller" in __utils__:
        return __virtualname__
    return False, "netstat: the netaudit_netstat_engine util is not synced (salt-run saltutil.sync_all)"


def report(tgt="*", policy=None, dest="reports", tgt_type="glob", timeout=None, fail_on="error", allow_incomplete=False,
           formats=None, junit_fail_on="error", compare_with=None, waiver_warn_days=14, saltenv=None, **kwargs):
    """Audit `tgt` and write the fleet reports to `dest` (relative: to the runner's directory).

    policy, fail_on, allow_incomplete, saltenv
        As netstat.audit on each minion (other keyword arguments: netstat.facts options).
    formats
        Report formats (default: json, junit, markdown, html, sarif).
    compare_with
        A previous report.json (default: the last report in `dest`; ``none``: no comparison).

    Returns the fleet verdict, the summary and the files written; the return code (salt-run) is
    the audit gate's: 0 compliant, 1 drift, 3 incomplete, 4 a minion could not be audited.
    """
    import salt.client
    import salt.utils.minions

    ns = __utils__["netaudit_netstat_engine.controller"](__opts__)
    args = {"policy": policy, "fail_on": fail_on, "allow_incomplete": allow_incomplete, "saltenv": saltenv}
    args["gather"] = dict((k, v) for k, v in kwargs.items() if not str(k).startswith("__"))
    expected = salt.utils.minions.CkMinions(__opts__).check_minions(tgt, tgt_type).get("minions") or []
    with salt.client.get_local_client(mopts=__opts__) as client:
        returns = client.cmd(tgt, "netstat.audit", kwarg=args, tgt_type=tgt_type,
                             timeout=timeout or __opts__.get("timeout", 5))
    model = ns.salt_returns.build(returns or {}, expected=expected, playbook="salt-run netstat.report tgt=%s" % tgt)
    directory = os.path.abspath(dest)
    try:
        paths, warnings = ns.fleet.publish(model, directory, formats=formats, fail_on=junit_fail_on,
                                           compare_with=compare_with, waiver_warn_days=waiver_warn_days)
    except ns.report.ReportError as exc:
        __context__["retcode"] = 4
        return {"verdict": "failed", "error": "no report written: %s" % exc, "retcode": 4}
    code = ns.fleet.exit_code(model)
    __context__["retcode"] = code
    # salt-run exits with the `retcode` of the returned mapping
    return {
        "retcode": code,
        "verdict": model["verdict"],
        "compliant": model["compliant"],
        "summary": model["summary"],
        "hosts": dict((h["host"], h["verdict"]) for h in model["hosts"]),
        "reports": paths,
        "warnings": warnings,
    }
