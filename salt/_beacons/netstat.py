# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Salt beacon ``netstat`` of netaudit.netstat: an event when the minion's listeners or its audit
verdict change, for reactors.

.. code-block:: yaml

    beacons:
      netstat:
        - interval: 60            # seconds between gathers (Salt's own beacon option)
        - policy: salt://policies/web.yml   # optional: also watch the verdict
        - fail_on: error
        - gather: {backend: auto}           # netstat.facts options
        - report_initial: false   # true: one event with the listeners and verdict at start

Events (tag ``salt/beacon/<minion>/netstat/<what>``):

- ``listener/new`` and ``listener/gone``: ``{"change": "new-listener" | "listener-gone",
  "listener": {proto, address, port, programs, pids, users, netns}}``, one event a listener.
- ``verdict``: ``{"change": "verdict", "previous": "compliant", "verdict": "drift", "summary",
  "findings": [{rule, severity, subject, message}]}`` when the verdict changes (drift appears or
  clears, or the host becomes incomplete).
- ``initial`` with ``report_initial: true``: the first observation.

The first gather only records what is there (nothing is new at start); a failed gather or audit
is an ``error`` event once, and again when it changes.
"""

from __future__ import absolute_import, division, print_function

# Salt's loader gives this module __salt__, __opts__, __context__ and __utils__ (ruff knows them
# as builtins, see ruff.toml; pylint does not).
# pylint: disable=undefined-variable

import copy

__virtualname__ = "netstat"

_KEYS = ("interval", "policy", "fail_on", "allow_incomplete", "gather", "report_initial", "saltenv")
_STATE = "netstat.beacon.last"


def __virtual__():
    if "netstat.facts" in __salt__:
        return __virtualname__
    return False, "netstat: the netstat execution module is not loaded (run saltutil.sync_all)"


def _config(config):
    out = {}
    items = config if isinstance(config, list) else [config]
    for item in items:
        if isinstance(item, dict):
            out.update(item)
    return out


def validate(config):
    if not isinstance(config, list):
        return False, "netstat beacon: the configuration must be a list of one-key mappings"
    cfg = _config(config)
    unknown = sorted(set(cfg) - set(_KEYS))
    if unknown:
        return False, "netstat beacon: unknown option(s) %s (valid: %s)" % (", ".join(unknown), ", ".join(_KEYS))
    if "gather" in cfg and not isinstance(cfg["gather"], dict):
        return False, "netstat beacon: gather must be a mapping of netstat.facts options"
    return True, "valid beacon configuration"


def _listener(lst):
    procs = lst.get("processes") or []
    return {
        "proto": lst.get("proto"),
        "address": lst.get("address"),
        "port": lst.get("port"),
        "netns": lst.get("netns"),
        "programs": sorted({p.get("name") for p in procs if p.get("name")}),
        "pids": sorted({p.get("pid") for p in procs if p.get("pid") is not None}),
        "users": sorted({p.get("user") for p in procs if p.get("user")}),
    }


def _key(lst):
    return (lst["proto"], lst["address"], lst["port"], str(lst.get("netns")), tuple(lst["programs"]))


def beacon(config):
    cfg = _config(config)
    events = []
    previous = __context__.get(_STATE)
    try:
        facts = __salt__["netstat.facts"](**dict(cfg.get("gather") or {}))
    except Exception as exc:  # noqa: BLE001 - a beacon reports, it does not crash the minion's loop
        error = "gathering socket facts failed: %s" % exc
        if previous is None or previous.get("error") != error:
            events.append({"tag": "error", "change": "error", "error": error})
        __context__[_STATE] = dict(previous or {}, error=error)
        return events
    listeners = {}
    for lst in facts.get("listeners") or []:
        one = _listener(lst)
        listeners[_key(one)] = one
    verdict = summary = None
    findings = []
    if cfg.get("policy") is not None:
        host = __salt__["netstat.audit"](
            policy=cfg["policy"], fail_on=cfg.get("fail_on", "error"), allow_incomplete=cfg.get("allow_incomplete", False),
            saltenv=cfg.get("saltenv"), facts=facts,
        )
        verdict = host.get("verdict")
        summary = host.get("summary") or host.get("error")
        findings = [
            {k: f.get(k) for k in ("rule", "severity", "subject", "message")}
            for f in host.get("findings") or [] if not f.get("waived")
        ]
    current = {"listeners": listeners, "verdict": verdict, "error": None}
    if previous is None or previous.get("listeners") is None:
        if cfg.get("report_initial"):
            events.append({"tag": "initial", "change": "initial", "listeners": sorted(listeners.values(), key=_sort),
                           "verdict": verdict, "summary": summary, "findings": findings})
    else:
        before = previous["listeners"]
        for key in sorted(set(listeners) - set(before), key=str):
            events.append({"tag": "listener/new", "change": "new-listener", "listener": copy.deepcopy(listeners[key])})
        for key in sorted(set(before) - set(listeners), key=str):
            events.append({"tag": "listener/gone", "change": "listener-gone", "listener": copy.deepcopy(before[key])})
        if verdict != previous.get("verdict") and cfg.get("policy") is not None:
            events.append({"tag": "verdict", "change": "verdict", "previous": previous.get("verdict"), "verdict": verdict,
                           "summary": summary, "findings": findings})
    __context__[_STATE] = current
    return events


def _sort(lst):
    return (str(lst["proto"]), str(lst["address"]), lst["port"] or 0)
