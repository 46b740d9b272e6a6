# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Composition: policies layered (later refine earlier), named entries merged, state limits
iterated, the connection list a policy needs.

This is a private module_utils file of netaudit.netstat, part of the policy engine whose entry
point is _policy.py; its API may change at any time. Standard library only, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.netaudit.netstat.plugins.module_utils._policy_base import (
    KEY_SOURCES,
    LAYER_KEY,
    MERGED_KEY,
    PolicyEvalError,
    SOURCE_KEY,
    _as_list,
    _source,
)


def _tag_layer(entries, layer):
    out = []
    for e in entries or []:
        if isinstance(e, dict):
            e = dict(e)
            e[LAYER_KEY] = layer
        out.append(e)
    return out


_GONE = object()


def _merge_entries(base, new):
    """Concatenate entry lists; an entry with the `name` of an earlier one replaces it, and
    `enabled: false` removes it. Linear in the number of entries (names are indexed)."""
    result = list(base)
    where = {}  # name -> positions in result
    for pos, entry in enumerate(result):
        name = entry.get("name") if isinstance(entry, dict) else None
        if name is not None:
            where.setdefault(name, []).append(pos)
    for entry in new:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name is not None:
            for pos in where.pop(name, ()):
                result[pos] = _GONE
        if isinstance(entry, dict) and entry.get("enabled") is False:
            continue
        result.append(entry)
        if name is not None:
            where.setdefault(name, []).append(len(result) - 1)
    return [e for e in result if e is not _GONE]


def _merge_keys(dst, src, keys):
    ks = dict(dst.get(KEY_SOURCES) or {})
    for key in keys:
        if key in src:
            dst[key] = src[key]
            if _source(src, key):
                ks[key] = _source(src, key)
    dst[KEY_SOURCES] = ks


def merge_policies(policies):
    """Merge loaded policies in order; later ones refine earlier ones. Idempotent on a merged policy.

    - scalars (`policy`, `description`, `default`, completeness, ...): the last one set wins;
    - allow/deny lists: concatenated; an entry with the same `name` replaces the earlier one and
      `enabled: false` drops it; when an allow and a deny entry both match a socket, the one from
      the later policy wins (deny wins within one policy);
    - `states`, `queues`, `severities`, `services`: merged per key;
    - `waivers`: concatenated.
    """
    if isinstance(policies, dict):
        if policies.get(MERGED_KEY):
            return policies
        policies = [policies]
    merged = {
        MERGED_KEY: True,
        "policy": None,
        "policies": [],
        "files": [],
        "listeners": {"default": "allow", "allow": [], "deny": []},
        "egress": {"default": "allow", "allow": [], "deny": []},
        "unix": {"default": "allow", "allow": [], "deny": [], "world_writable": {}},
        "states": {},
        "queues": {},
        "completeness": {},
        "severities": {},
        "services": {},
        "waivers": [],
    }
    for layer, pol in enumerate(policies or []):
        if pol is None:
            continue
        if not isinstance(pol, dict):
            raise PolicyEvalError("policy #%d is a %s, not a mapping" % (layer + 1, type(pol).__name__))
        if pol.get(MERGED_KEY):
            # a merged policy inside a list: merge its pieces as one layer
            pol = dict(pol)
        if pol.get("policy"):
            merged["policy"] = pol["policy"]
            merged["policies"].append(pol["policy"])
        for f in _as_list(pol.get("__file__")) + list(pol.get("files") or []):
            if f not in merged["files"]:
                merged["files"].append(f)
        for section in ("listeners", "egress", "unix"):
            sec = pol.get(section)
            if sec is None:
                continue
            if not isinstance(sec, dict):
                raise PolicyEvalError("%s must be a mapping" % section)
            dst = merged[section]
            _merge_keys(
                dst,
                sec,
                [k for k in sec if k not in ("allow", "deny", "world_writable") and not k.startswith("__")],
            )
            if SOURCE_KEY in sec:
                dst[SOURCE_KEY] = sec[SOURCE_KEY]
            for kind in ("allow", "deny"):
                entries = sec.get(kind)
                if entries is None:
                    continue
                if not isinstance(entries, list):
                    raise PolicyEvalError("%s.%s must be a list" % (section, kind))
                fresh = [e for e in entries if not (isinstance(e, dict) and LAYER_KEY in e)]
                kept = [e for e in entries if isinstance(e, dict) and LAYER_KEY in e]
                dst[kind] = _merge_entries(dst[kind], kept + _tag_layer(fresh, layer + 1))
            if section == "unix" and sec.get("world_writable") is not None:
                ww = sec["world_writable"]
                if isinstance(ww, str):
                    ww = {"severity": ww}
                cur = dict(dst["world_writable"])
                _merge_keys(cur, ww, [k for k in ww if k != "allow" and not k.startswith("__")])
                if "allow" in ww:
                    cur["allow"] = list(cur.get("allow") or []) + list(ww.get("allow") or [])
                if SOURCE_KEY in ww:
                    cur[SOURCE_KEY] = ww[SOURCE_KEY]
                dst["world_writable"] = cur
        for proto, table in (pol.get("states") or {}).items():
            if proto.startswith("__"):
                continue
            dst = dict(merged["states"].get(proto) or {})
            for state, limit in (table or {}).items():
                if not state.startswith("__"):
                    dst[state] = limit
            merged["states"][proto] = dst
        for key in ("queues", "severities", "services", "completeness"):
            val = pol.get(key)
            if val is None:
                continue
            if not isinstance(val, dict):
                raise PolicyEvalError("%s must be a mapping" % key)
            _merge_keys(merged[key], val, [k for k in val if not k.startswith("__")])
            if SOURCE_KEY in val:
                merged[key][SOURCE_KEY] = val[SOURCE_KEY]
        merged["waivers"] = merged["waivers"] + list(pol.get("waivers") or [])
    return merged


def _iter_limits(policy):
    for proto in sorted(policy.get("states") or {}):
        table = policy["states"][proto] or {}
        for state in sorted(k for k in table if not k.startswith("__")):
            for limit in _as_list(table[state]):
                yield proto, state, limit


def _scoped(limit):
    return isinstance(limit, dict) and (limit.get("port") is not None or limit.get("program") is not None)


def connections_mode_needed(policy):
    """ "compact" when evaluating `policy` needs the connection list (per-port/program state limits,
    queue limits on established sockets, egress rules), else None (the facts default will do)."""
    policy = merge_policies(policy)
    for _proto, state, limit in _iter_limits(policy):
        if _scoped(limit) and state not in ("LISTEN",):
            return "compact"
    queues = policy.get("queues") or {}
    if queues.get("recv_q") is not None or queues.get("send_q") is not None:
        return "compact"
    egress = policy.get("egress") or {}
    if egress.get("allow") or egress.get("deny") or egress.get("default") == "deny":
        return "compact"
    return None
