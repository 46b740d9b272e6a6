# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Socket policy evaluation: ansible_facts.netstat + policy -> drift findings.

This is a private module_utils file of netaudit.netstat; its API may change at any time.

Pure Python standard library (3.8+), no Ansible imports: the action plugin, the filter, the test
and any other front end share this one implementation. Policies arrive already loaded (plain
dicts, see plugins/plugin_utils/_policy_loader.py, which also validates them and annotates every
mapping with ``__source__`` = "file:line" so that findings can cite the rule involved).

Entry points:

- ``merge_policies(policies)``: a list of loaded policies -> one merged policy (later refine earlier).
- ``evaluate(facts, policy, today=None)``: -> host result
  ``{compliant, counts: {error, warning, info}, waived, findings: [...], summary, policies}``.
- ``connections_mode_needed(policy)``: ``"compact"`` when the policy needs the connection list.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fnmatch
import ipaddress
import os

from ansible_collections.netaudit.netstat.plugins.module_utils import _scope
from ansible_collections.netaudit.netstat.plugins.module_utils._common import (
    STATE_NAMES,
    compact_rows,
    ip_exposure,
    normalise_ip,
    UNIX_STATE_NAMES as _UNIX_STATE_NAMES,
    parse_compact_row,
)

SEVERITIES = ("error", "warning", "info")
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}

# Stable rule ids and their default severities.
DEFAULT_SEVERITY = {
    "unexpected-listener": "error",
    "missing-listener": "error",
    "forbidden-listener": "error",
    "wrong-owner": "error",
    "wrong-user": "error",
    "wrong-bind": "error",
    "state-threshold": "warning",
    "queue-threshold": "warning",
    "forbidden-peer": "error",
    "unexpected-peer": "warning",
    "unexpected-unix-socket": "warning",
    "forbidden-unix-socket": "error",
    "world-writable-unix-socket": "warning",
    "incomplete-facts": "error",
    "expired-waiver": "warning",
    "unused-waiver": "info",
}
RULES = tuple(sorted(DEFAULT_SEVERITY))

TCP_STATE_NAMES = STATE_NAMES  # the 12 names netstat uses (shared with the gatherer)
UNIX_STATE_NAMES = _UNIX_STATE_NAMES

# Bind classes a policy may name instead of an address or CIDR.
BIND_CLASSES = (
    "any",
    "wildcard",
    "loopback",
    "private",
    "public",
    "link-local",
    "multicast",
)

# A small built-in service table (IANA names as /etc/services spells them) so that policies can
# say `port: ssh`. A policy's own `services:` map adds to / overrides it.
SERVICES = {
    "ftp-data": 20,
    "ftp": 21,
    "ssh": 22,
    "telnet": 23,
    "smtp": 25,
    "time": 37,
    "domain": 53,
    "dns": 53,
    "tftp": 69,
    "gopher": 70,
    "finger": 79,
    "http": 80,
    "kerberos": 88,
    "pop3": 110,
    "sunrpc": 111,
    "rpcbind": 111,
    "ident": 113,
    "auth": 113,
    "nntp": 119,
    "ntp": 123,
    "epmap": 135,
    "netbios-ns": 137,
    "netbios-dgm": 138,
    "netbios-ssn": 139,
    "imap": 143,
    "snmp": 161,
    "snmp-trap": 162,
    "bgp": 179,
    "ldap": 389,
    "https": 443,
    "microsoft-ds": 445,
    "isakmp": 500,
    "exec": 512,
    "rexec": 512,
    "login": 513,
    "rlogin": 513,
    "shell": 514,
    "rsh": 514,
    "syslog": 514,
    "printer": 515,
    "talk": 517,
    "ntalk": 518,
    "submission": 587,
    "ipp": 631,
    "ldaps": 636,
    "rsync": 873,
    "imaps": 993,
    "pop3s": 995,
    "socks": 1080,
    "openvpn": 1194,
    "ms-sql-s": 1433,
    "mssql": 1433,
    "oracle": 1521,
    "pptp": 1723,
    "radius": 1812,
    "nfs": 2049,
    "etcd-client": 2379,
    "etcd-server": 2380,
    "mysql": 3306,
    "rdp": 3389,
    "ms-wbt-server": 3389,
    "svn": 3690,
    "epmd": 4369,
    "sip": 5060,
    "amqp": 5672,
    "postgresql": 5432,
    "postgres": 5432,
    "couchdb": 5984,
    "vnc": 5900,
    "x11": 6000,
    "redis": 6379,
    "kubelet": 10250,
    "http-alt": 8080,
    "memcache": 11211,
    "memcached": 11211,
    "mongodb": 27017,
    "elasticsearch": 9200,
    "prometheus": 9090,
    "node-exporter": 9100,
    "zookeeper": 2181,
    "kafka": 9092,
    "docker": 2375,
    "docker-tls": 2376,
    "vxlan": 4789,
    "wireguard": 51820,
    "chrony": 323,
    "mdns": 5353,
    "llmnr": 5355,
    "bootps": 67,
    "bootpc": 68,
    "nrpe": 5666,
    "zabbix-agent": 10050,
    "zabbix-trapper": 10051,
}

# At most this many forbidden-peer / unexpected-peer findings per host; the rest are summarised in
# one finding (a host with thousands of peers must not flood the report).
MAX_PEER_FINDINGS = 100

SOURCE_KEY = "__source__"
KEY_SOURCES = "__key_sources__"
LAYER_KEY = "__layer__"
MERGED_KEY = "__merged__"


class PolicyEvalError(ValueError):
    """A policy value the engine cannot use (only for policies that skipped the loader)."""


# --------------------------------------------------------------------------------------------
# small helpers


def _source(obj, key=None):
    if not isinstance(obj, dict):
        return None
    if key is not None:
        ks = obj.get(KEY_SOURCES)
        if isinstance(ks, dict) and ks.get(key):
            return ks[key]
    return obj.get(SOURCE_KEY)


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


_norm_addr = normalise_ip
_exposure = ip_exposure


def _endpoint(address, port):
    if address is not None and ":" in str(address):
        return "[%s]:%s" % (address, port)
    return "%s:%s" % (address, port)


def parse_date(value):
    """A waiver date: datetime.date, or 'YYYY-MM-DD' text. Raises PolicyEvalError."""
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.datetime.strptime(str(value).strip(), "%Y-%m-%d").date()
    except ValueError:
        raise PolicyEvalError("%r is not a date (YYYY-MM-DD)" % (value,))


def parse_ports(spec, services=None):
    """A port spec (int, "80", "8000-8100", "ssh", or a list of those) -> sorted [(lo, hi)].

    Raises PolicyEvalError naming the bad item.
    """
    ranges = []
    for item in _as_list(spec):
        if isinstance(item, bool):
            raise PolicyEvalError("port %r is not a port number" % (item,))
        if isinstance(item, int):
            lo = hi = item
        else:
            text = str(item).strip()
            if text.isdigit():
                lo = hi = int(text)
            elif "-" in text and text.replace("-", "", 1).replace(" ", "").isdigit():
                a, b = text.split("-", 1)
                lo, hi = int(a), int(b)
                if lo > hi:
                    raise PolicyEvalError("port range %r runs backwards (%d > %d)" % (text, lo, hi))
            else:
                table = dict(SERVICES)
                table.update(services or {})
                if text.lower() not in table and text not in table:
                    raise PolicyEvalError("port %r is neither a number, a range LOW-HIGH nor a known service name" % (text,))
                lo = hi = int(table.get(text, table.get(text.lower())))
        for p in (lo, hi):
            if not 0 < p < 65536:
                raise PolicyEvalError("port %r is out of range (1-65535)" % (item,))
        ranges.append((lo, hi))
    return sorted(set(ranges))


def _ports_text(ranges):
    return ",".join(str(lo) if lo == hi else "%d-%d" % (lo, hi) for lo, hi in ranges)


def _port_in(port, ranges):
    if port is None:
        return False
    for lo, hi in ranges:
        if lo <= port <= hi:
            return True
    return False


def parse_bind(spec):
    """A bind spec (class name, address, CIDR, or a list) -> list of (kind, value) matchers."""
    out = []
    for item in _as_list(spec):
        text = str(item).strip()
        low = text.lower()
        if low in BIND_CLASSES:
            out.append(("class", "wildcard" if low == "any" else low))
            continue
        if "/" in text:
            try:
                net = ipaddress.ip_network(text, strict=False)
            except ValueError:
                raise PolicyEvalError("bind %r is not a valid CIDR" % (text,))
            out.append(("net", net))
            continue
        ip = _norm_addr(text)
        if ip is None:
            raise PolicyEvalError("bind %r is not an address, a CIDR or one of %s" % (text, ", ".join(BIND_CLASSES)))
        out.append(("addr", ip))
    return out


def _bind_matches(matchers, address):
    """Whether an address matches any of the matchers of parse_bind() or parse_cidrs()."""
    ip = _norm_addr(address)
    exp = _exposure(ip)
    for kind, value in matchers:
        if kind == "class":
            if value == exp:
                return True
        elif ip is None:
            continue
        elif kind == "addr" and ip == value or kind == "net" and ip.version == value.version and ip in value:
            return True
    return False


def parse_cidrs(spec):
    out = []
    for item in _as_list(spec):
        text = str(item).strip()
        low = text.lower()
        if low in BIND_CLASSES:
            out.append(("class", "wildcard" if low == "any" else low))
            continue
        try:
            out.append(("net", ipaddress.ip_network(text, strict=False)))
        except ValueError:
            raise PolicyEvalError("%r is not an address or CIDR" % (text,))
    return out


def _glob_match(patterns, values):
    for pattern in patterns:
        for value in values:
            if value is not None and fnmatch.fnmatchcase(str(value), str(pattern)):
                return True
    return False


def _program_candidates(proc):
    names = [proc.get("name")]
    exe = proc.get("exe")
    if exe:
        names.append(exe)
        names.append(os.path.basename(exe))
    return [n for n in names if n]


def _program_matches(patterns, processes):
    """True / False, or None when there is no process to compare against (owner unknown)."""
    if not processes:
        return None
    for proc in processes:
        if _glob_match(patterns, _program_candidates(proc)):
            return True
    return False


def _user_matches(patterns, sock_user, sock_uid, processes):
    values = [sock_user, sock_uid]
    for proc in processes or []:
        values.append(proc.get("user"))
        values.append(proc.get("uid"))
    values = [str(v) for v in values if v is not None]
    return _glob_match([str(p) for p in patterns], values)


def _context_values(processes, label):
    """The units (label "unit") or container ids (label "container") of processes, sorted."""
    out = set()
    for proc in processes or []:
        if not isinstance(proc, dict):
            continue
        if label == "unit" and isinstance(proc.get("unit"), str):
            out.add(proc["unit"])
        elif label == "container" and isinstance(proc.get("container"), dict) and isinstance(proc["container"].get("id"), str):
            out.add(proc["container"]["id"])
    return sorted(out)


def _owners_text(processes, limit=3):
    if not processes:
        return "owner unknown"
    byname = {}
    order = []
    for proc in processes:
        name = proc.get("name") or "?"
        if name not in byname:
            byname[name] = []
            order.append(name)
        byname[name].append(proc)
    parts = []
    for name in order[:limit]:
        procs = byname[name]
        users = sorted(
            {
                str(p.get("user") if p.get("user") is not None else p.get("uid"))
                for p in procs
                if p.get("user") is not None or p.get("uid") is not None
            }
        )
        pids = [str(p.get("pid")) for p in procs[:3]]
        more = "" if len(procs) <= 3 else ",+%d" % (len(procs) - 3)
        who = ", user %s" % "/".join(users) if users else ""
        parts.append("%s (pid %s%s%s)" % (name, ",".join(pids), more, who))
    if len(order) > limit:
        parts.append("+%d more" % (len(order) - limit))
    return ", ".join(parts)


def _program_names(processes):
    return sorted({p.get("name") for p in processes or [] if p.get("name")})


# --------------------------------------------------------------------------------------------
# matchers compiled from policy entries


class Entry(object):
    """One allow/deny entry of listeners, egress or unix, compiled once."""

    def __init__(self, raw, section, kind, services, index, spaces=None):
        self.raw = raw
        self.spaces = spaces or _scope.NO_SPACES
        self.section = section
        self.kind = kind
        self.index = index
        self.layer = raw.get(LAYER_KEY, 0) if isinstance(raw, dict) else 0
        self.source = _source(raw)
        if not isinstance(raw, dict):
            raise PolicyEvalError("%s.%s[%d] must be a mapping" % (section, kind, index))
        try:
            self.protos = [str(p).lower() for p in _as_list(raw.get("proto"))]
            if "any" in self.protos:
                self.protos = []
            self.family = raw.get("family")
            self.ports = parse_ports(raw["port"], services) if raw.get("port") is not None else None
            self.bind = parse_bind(raw["bind"]) if raw.get("bind") is not None else None
            self.cidrs = parse_cidrs(raw["cidr"]) if raw.get("cidr") is not None else None
        except PolicyEvalError as exc:
            raise PolicyEvalError(
                "%s.%s[%d]%s: %s"
                % (
                    section,
                    kind,
                    index,
                    " (%s)" % self.source if self.source else "",
                    exc,
                )
            )
        self.programs = [str(p) for p in _as_list(raw.get("program"))] or None
        self.users = [str(u) for u in _as_list(raw.get("user"))] or None
        self.units = [str(u) for u in _as_list(raw.get("unit"))] or None
        self.containers = [str(c) for c in _as_list(raw.get("container"))] or None
        self.images = [str(c) for c in _as_list(raw.get("image"))] or None
        self.netns = [str(c) for c in _as_list(raw.get("netns"))] or None
        self.paths = [str(p) for p in _as_list(raw.get("path"))] or None
        self.types = [str(t) for t in _as_list(raw.get("type"))] or None
        self.world_writable = raw.get("world_writable")
        self.required = bool(raw.get("required", False))
        # an allow entry may accept a socket whose owner could not be read (incomplete-facts)
        self.allow_unresolved = bool(raw.get("allow_unresolved", False))
        self.reason = raw.get("reason")
        self.severity = raw.get("severity")

    def where(self):
        return self.source or "%s.%s[%d]" % (self.section, self.kind, self.index)

    def describe(self):
        parts = []
        if self.protos:
            parts.append("/".join(self.protos))
        if self.family:
            parts.append(self.family)
        if self.ports is not None:
            parts.append("port %s" % _ports_text(self.ports))
        if self.cidrs is not None:
            parts.append("peer %s" % ",".join(str(v) for dummy, v in self.cidrs))
        if self.bind is not None:
            parts.append("bind %s" % ",".join(str(v) for dummy, v in self.bind))
        if self.paths:
            parts.append("path %s" % ",".join(self.paths))
        if self.types:
            parts.append("type %s" % ",".join(self.types))
        if self.programs:
            parts.append("program %s" % ",".join(self.programs))
        if self.users:
            parts.append("user %s" % ",".join(self.users))
        if self.units:
            parts.append("unit %s" % ",".join(self.units))
        if self.containers:
            parts.append("container %s" % ",".join(self.containers))
        if self.images:
            parts.append("image %s" % ",".join(self.images))
        if self.netns:
            parts.append("netns %s" % ",".join(self.netns))
        if self.world_writable is not None:
            parts.append("world-writable" if self.world_writable else "not world-writable")
        return " ".join(parts) or "anything"

    # listeners: "anchor" = what identifies the socket the entry is about; "checks" = the rest
    def in_scope(self, sock):
        """Whether the socket is in the namespaces the entry is about (see _scope)."""
        if self.netns is not None:
            return self.spaces.netns_matches(self.netns, sock)
        if self.containers is not None or self.images is not None:
            return True
        return self.spaces.is_primary(sock)

    def listener_anchor(self, lst, owner_unknown=False):
        """Whether the entry is about this listener. With `owner_unknown`, an entry anchored by
        program alone may be about it (its owner could not be read)."""
        if not self.in_scope(lst):
            return False
        if self.protos and lst.get("proto") not in self.protos:
            return False
        if self.family and lst.get("family") != self.family:
            return False
        if self.ports is not None:
            return _port_in(lst.get("port"), self.ports)
        if self.programs is not None:
            if owner_unknown and not lst.get("processes"):
                return True
            return bool(_program_matches(self.programs, lst.get("processes")))
        if self.bind is not None:
            return _bind_matches(self.bind, lst.get("address"))
        return True

    def listener_mismatches(self, lst):
        """[(rule, expected, actual)] for the checks beyond the anchor ([] = full match)."""
        out = []
        if self.bind is not None and not _bind_matches(self.bind, lst.get("address")):
            out.append(
                (
                    "wrong-bind",
                    "bind %s" % ",".join(str(v) for dummy, v in self.bind),
                    "%s (%s)" % (lst.get("address"), _exposure(_norm_addr(lst.get("address")))),
                )
            )
        if self.programs is not None and self.ports is not None:
            m = _program_matches(self.programs, lst.get("processes"))
            if m is None:
                out.append(("wrong-owner", "program %s" % ",".join(self.programs), None))
            elif not m:
                out.append(
                    (
                        "wrong-owner",
                        "program %s" % ",".join(self.programs),
                        ",".join(_program_names(lst.get("processes"))),
                    )
                )
        if self.users is not None and not _user_matches(self.users, lst.get("user"), lst.get("uid"), lst.get("processes")):
            users = sorted(
                set(
                    [str(lst.get("user") if lst.get("user") is not None else lst.get("uid"))]
                    + [str(p.get("user")) for p in lst.get("processes") or [] if p.get("user") is not None]
                )
            )
            out.append(("wrong-user", "user %s" % ",".join(self.users), ",".join(users)))
        out.extend(self.owner_context_mismatches(lst.get("processes"), lst))
        return out

    def owner_context_mismatches(self, processes, sock=None):
        """[(rule, expected, actual)] for `unit`, `container` and `image`; actual None when it
        cannot be told (no owner known, a container the runtime did not name): neither met nor
        broken."""
        out = []
        for attr, label in (("units", "unit"), ("containers", "container"), ("images", "image")):
            patterns = getattr(self, attr)
            if patterns is None:
                continue
            miss = _scope.context_mismatch(label, patterns, sock, processes)
            if miss is not None:
                out.append(("wrong-owner", miss[0], miss[1]))
        return out

    def owner_context_matches(self, processes, sock=None):
        return not self.owner_context_mismatches(processes, sock)

    def deny_matches_listener(self, lst):
        if not self.listener_anchor(lst):
            return False
        if self.bind is not None and not _bind_matches(self.bind, lst.get("address")):
            return False
        if self.programs is not None and not _program_matches(self.programs, lst.get("processes")):
            return False
        if self.users is not None and not _user_matches(self.users, lst.get("user"), lst.get("uid"), lst.get("processes")):
            return False
        return self.owner_context_matches(lst.get("processes"), lst)

    def matches_conn_peer(self, conn):
        if not self.in_scope(conn):
            return False
        if self.protos and conn.get("proto") not in self.protos:
            return False
        if self.family and conn.get("family") != self.family:
            return False
        if self.cidrs is not None and not _bind_matches(self.cidrs, conn.get("remote_address")):
            return False
        if self.ports is not None and not _port_in(conn.get("remote_port"), self.ports):
            return False
        if self.programs is not None and not _program_matches(self.programs, conn.get("processes")):
            return False
        if self.users is not None and not _user_matches(self.users, conn.get("user"), conn.get("uid"), conn.get("processes")):
            return False
        return self.owner_context_matches(conn.get("processes"), conn)

    def matches_unix(self, sock, owner_unknown=False):
        """Whether the entry matches the UNIX socket; with `owner_unknown`, program and user
        checks count as met (the owner could not be read: incomplete-facts says so)."""
        if not self.in_scope(sock):
            return False
        if self.paths is not None and not _glob_match(self.paths, [sock["path"]]):
            return False
        if owner_unknown:
            return not (self.types is not None and not set(self.types) & set(sock["types"])) and not (
                self.world_writable is not None and bool(self.world_writable) != bool(sock["world_writable"])
            )
        if self.types is not None and not set(self.types) & set(sock["types"]):
            return False
        if self.world_writable is not None and bool(self.world_writable) != bool(sock["world_writable"]):
            return False
        if self.programs is not None and not _program_matches(self.programs, sock["processes"]):
            return False
        if self.users is not None and not _user_matches(self.users, None, sock.get("file_uid"), sock["processes"]):
            return False
        return self.owner_context_matches(sock["processes"], sock)


# --------------------------------------------------------------------------------------------
# composition


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


# --------------------------------------------------------------------------------------------
# facts


def normalise_connections(facts):
    """facts['connections'] as a list of dicts (full or compact form), or None when absent."""
    conns = facts.get("connections")
    if conns is None:
        return None
    processes = facts.get("processes") or {}
    if isinstance(conns, dict) and "columns" in conns:
        cols = list(conns.get("columns") or [])
        out = []
        for row in compact_rows(conns.get("rows")):
            try:
                rec = parse_compact_row(cols, row)
            except ValueError as exc:
                raise PolicyEvalError("facts: connections: %s" % exc)
            pids = rec.pop("pids", None) or []
            procs = []
            for pid in pids:
                proc = processes.get(str(pid)) or processes.get(pid)
                procs.append(proc if proc else {"pid": pid})
            rec["processes"] = procs
            out.append(rec)
        return out
    if isinstance(conns, list):
        if conns and isinstance(conns[0], dict) and "count" in conns[0] and "remote_port" not in conns[0]:
            return None  # summary form: no per-socket detail
        out = []
        for c in conns:
            if isinstance(c, dict):
                c = dict(c)
                c.setdefault("processes", [])
                out.append(c)
        return out
    return None


# --------------------------------------------------------------------------------------------
# evaluation


class _Ctx(object):
    def __init__(self, facts, policy, today, incomplete_severity):
        self.facts = facts
        self.policy = policy
        self.today = today
        self.findings = []
        sev = (policy.get("completeness") or {}).get("severity", "error")
        if incomplete_severity is not None:
            sev = incomplete_severity
        self.incomplete_severity = sev
        self.services = dict(policy.get("services") or {})
        self.spaces = _scope.Spaces(facts)
        self.severities = {k: v for k, v in (policy.get("severities") or {}).items() if not k.startswith("__")}

    def severity(self, rule, override=None):
        return override or self.severities.get(rule) or DEFAULT_SEVERITY[rule]

    def add(
        self,
        rule,
        subject,
        expected,
        actual,
        message,
        source=None,
        severity=None,
        match=None,
        sortkey=None,
    ):
        severity = self.severity(rule, severity)
        if severity == "ignore":
            return
        finding = {
            "rule": rule,
            "severity": severity,
            "subject": subject,
            "expected": expected,
            "actual": actual,
            "message": message,
            "source": source,
            "waived": None,
        }
        finding.update(finding_fields(match))
        finding["_sort"] = sortkey if sortkey is not None else (subject,)
        self.findings.append(finding)


# The structured fields every finding carries besides rule/severity/subject/expected/actual/
# message/source/waived (None or [] when they do not apply). Reports, grouping and waivers read
# these, never the text.
FINDING_FIELDS = {
    "proto": None,  # tcp | udp | unix
    "family": None,  # ipv4 | ipv6
    "address": None,  # local address of a listener
    "port": None,  # local port (listeners, scoped limits, missing listeners)
    "remote_address": None,  # egress findings: the peer
    "remote_port": None,
    "path": None,  # UNIX socket path
    "state": None,  # state-threshold: the state counted
    "programs": [],  # [{name, exe, pids, pid_count, users}]
    "users": [],  # user names (the socket's and its processes'), uids without a name as text
    "uids": [],  # numeric uids
    "units": [],  # systemd units of the processes (from their cgroup)
    "containers": [],  # the socket's containers: names, or short ids where the runtime named none
    "container_ids": [],  # their full ids
    "images": [],  # their images
    "netns": None,  # the socket's network namespace when it is not the primary one (its name, or "netns INODE")
    "cause": None,  # incomplete-facts: why the facts are partial (not-root, capabilities, ...)
    "unresolved": None,  # incomplete-facts about one socket: {cause, causes, pids, detail}
}


def finding_fields(match):
    """FINDING_FIELDS filled from an evaluator's `match` dict (unknown keys are dropped)."""
    out = {}
    match = match or {}
    for key, default in FINDING_FIELDS.items():
        value = match.get(key, default)
        if isinstance(default, list):
            value = list(value or [])
        out[key] = value
    out["programs"] = [p if isinstance(p, dict) else {"name": p, "exe": None, "pids": [], "pid_count": 0, "users": []}
                       for p in out["programs"]]
    return out


def _listener_subject(lst, spaces=None):
    label = (spaces or _scope.NO_SPACES).label(lst)
    return "%s %s%s" % (lst.get("proto"), _endpoint(lst.get("address"), lst.get("port")), " (%s)" % label if label else "")


def _listener_sortkey(lst):
    return (
        lst.get("proto") or "",
        _int_or(lst.get("port"), 0),
        lst.get("family") or "",
        str(lst.get("address")),
    )


def _int_or(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _programs_attr(processes, max_pids=10):
    """The `programs` field of a finding: one entry per program name, with its pids (ascending,
    at most `max_pids` listed and `pid_count` for all), executable and users."""
    by_name = {}
    for proc in processes or []:
        if not isinstance(proc, dict):
            continue
        name = proc.get("name")
        cur = by_name.get(name)
        if cur is None:
            cur = by_name[name] = {"name": name, "exe": proc.get("exe"), "pids": [], "pid_count": 0, "users": []}
        cur["pid_count"] += 1
        if proc.get("pid") is not None and len(cur["pids"]) < max_pids:
            cur["pids"].append(proc.get("pid"))
        user = proc.get("user") if proc.get("user") is not None else proc.get("uid")
        if user is not None and str(user) not in cur["users"]:
            cur["users"].append(str(user))
    out = [by_name[k] for k in sorted(by_name, key=lambda n: (n is None, str(n)))]
    for prog in out:
        prog["pids"].sort(key=lambda p: _int_or(p, 0))
        prog["users"].sort()
    return out


def _users_attr(sock_user, sock_uid, processes):
    """(users, uids) of a socket: the socket's own and its processes', as sorted lists."""
    users, uids = set(), set()
    for user, uid in [(sock_user, sock_uid)] + [
        (p.get("user"), p.get("uid")) for p in processes or [] if isinstance(p, dict)
    ]:
        if user is not None:
            users.add(str(user))
        if isinstance(uid, int) and not isinstance(uid, bool):
            uids.add(uid)
            if user is None:
                users.add(str(uid))
    return sorted(users), sorted(uids)


def _context_fields(sock, processes, spaces=None):
    """units, containers, container_ids, images and netns of a finding about `sock`."""
    conts = _scope.socket_containers(dict(sock or {}, processes=processes or []))
    return {
        "units": _context_values(processes, "unit"),
        "containers": _scope.container_labels(conts),
        "container_ids": sorted({c["id"] for c in conts}),
        "images": sorted({c["image"] for c in conts if isinstance(c.get("image"), str)}),
        "netns": (spaces or _scope.NO_SPACES).label(sock or {}),
    }


def _listener_match(lst, spaces=None):
    """The structured fields of a finding about one listener."""
    users, uids = _users_attr(lst.get("user"), lst.get("uid"), lst.get("processes"))
    return {
        "proto": lst.get("proto"),
        "family": lst.get("family"),
        "address": lst.get("address"),
        "port": lst.get("port"),
        "programs": _programs_attr(lst.get("processes")),
        "users": users,
        "uids": uids,
        **_context_fields(lst, lst.get("processes"), spaces)
    }


def _unknown_owner_severity(ctx):
    sev = ctx.incomplete_severity
    return "info" if sev == "ignore" else sev


def _owner_unresolved(ctx, sock, owner_rules=True):
    """Why the owner of `sock` is unknown ({cause, detail, pids, ...}), or None when it is known
    or does not matter. Facts from this collection carry `owner_unresolved` per socket; older
    facts only say `complete: false` for the whole collector."""
    if sock.get("processes"):
        return None
    unresolved = sock.get("owner_unresolved")
    if isinstance(unresolved, dict):
        return unresolved
    collector = ctx.facts.get("collector") or {}
    if not isinstance(collector, dict):
        return None
    if collector.get("owners") is False:
        if not owner_rules:
            return None
        return {"cause": "owners-not-gathered", "detail": "the facts were gathered with owners: false", "pids": []}
    if "owner_unresolved" not in sock and collector.get("complete") is False and "reason_codes" not in collector:
        reasons = [str(r) for r in collector.get("reasons") or []] or ["the facts are incomplete"]
        return {"cause": "unknown", "detail": "; ".join(reasons), "pids": []}
    return None


# What to do about each cause of an unresolved owner (the causes of _inspect.py), for messages.
CAUSE_ADVICE = {
    "not-root": "gather as root (become: true)",
    "hidepid": "gather as root, or as a member of the gid= group of the hidepid /proc mount",
    "capabilities": "gather with full capabilities (outside the sandbox or container that reduced them)",
    "user-namespace": "gather from the owner of that process's user namespace",
    "lsm": "allow the gatherer ptrace read access in the LSM policy",
    "vanished": "gather again",
    "owners-not-gathered": "gather with owners: true",
    "runtime": "let the gatherer read the container runtime's API (container_sockets; root can read Docker's socket)",
}


def _add_unresolved(ctx, rule_subject, fields, unresolved, what, sortkey, waiver_hint):
    """One incomplete-facts finding about one socket whose owner could not be read."""
    cause = unresolved.get("cause")
    cause = cause if isinstance(cause, str) and cause else "unknown"
    detail = unresolved.get("detail")
    detail = detail if isinstance(detail, str) and detail else cause
    causes = unresolved.get("causes")
    pids = unresolved.get("pids")
    advice = CAUSE_ADVICE.get(cause, "gather again as root")
    f = dict(fields)
    f["cause"] = cause
    f["unresolved"] = {
        "cause": cause,
        "causes": [c for c in causes if isinstance(c, str)] if isinstance(causes, list) else [cause],
        "pids": [p for p in pids if _is_int(p)] if isinstance(pids, list) else [],
        "detail": detail,
    }
    ctx.add(
        "incomplete-facts",
        rule_subject,
        "the owner of this socket (%s)" % what,
        "owner unknown: %s" % detail,
        "owner of %s unknown: %s. To see it, %s; to accept it, waive {rule: incomplete-facts, match: {%s}} "
        "or set allow_unresolved: true on its allow entry" % (rule_subject, detail, advice, waiver_hint),
        source=_source(ctx.policy.get("completeness") or {}, "severity") or _source(ctx.policy.get("completeness") or {}),
        severity=_unknown_owner_severity(ctx),
        match=f,
        sortkey=sortkey,
    )


class _PortIndex(object):
    """Entries by the ports they name, so that a listener is checked against the entries about its
    port (and those without a port) instead of every entry: a policy of 10,000 rules costs what
    its few relevant ones cost."""

    MAX_EXPAND = 64  # a range up to this wide is indexed port by port

    def __init__(self, entries):
        self.by_port = {}
        self.wide = []  # (lo, hi, entry) of wider ranges
        self.portless = []
        for e in entries:
            if e.ports is None:
                self.portless.append(e)
                continue
            for lo, hi in e.ports:
                if hi - lo < self.MAX_EXPAND:
                    for port in range(lo, hi + 1):
                        self.by_port.setdefault(port, []).append(e)
                else:
                    self.wide.append((lo, hi, e))

    def for_port(self, port):
        out = list(self.portless)
        if port is not None:
            out.extend(self.by_port.get(port, ()))
            out.extend(e for lo, hi, e in self.wide if lo <= port <= hi)
        seen = set()
        unique = []
        for e in out:
            if id(e) not in seen:
                seen.add(id(e))
                unique.append(e)
        return unique


def _listener_rules_need_owner(allow, deny):
    return any(e.programs is not None for e in list(allow) + list(deny))


def _eval_listeners(ctx, listeners):
    pol = ctx.policy.get("listeners") or {}
    default = pol.get("default", "allow")
    allow = [Entry(e, "listeners", "allow", ctx.services, i, ctx.spaces) for i, e in enumerate(pol.get("allow") or [])]
    deny = [Entry(e, "listeners", "deny", ctx.services, i, ctx.spaces) for i, e in enumerate(pol.get("deny") or [])]
    owner_rules = _listener_rules_need_owner(allow, deny)
    allow_index, deny_index = _PortIndex(allow), _PortIndex(deny)
    satisfied = {}  # id(entry) -> set of ports seen fully matching
    near_hit = set()  # ids of required entries a listener nearly matched (already a finding)

    for lst in listeners:
        subject = _listener_subject(lst, ctx.spaces)
        owners = _owners_text(lst.get("processes"))
        if lst.get("kind") == "published":
            owners = "published by %s to port %s (NAT rules, no host socket)" % (
                ",".join(_scope.container_labels(_scope.socket_containers(lst))) or "a container", lst.get("container_port"))
        match = _listener_match(lst, ctx.spaces)
        skey = _listener_sortkey(lst)
        unresolved = _owner_unresolved(ctx, lst, owner_rules)
        unknown = unresolved is not None
        denied = [d for d in deny_index.for_port(lst.get("port")) if d.deny_matches_listener(lst)]

        has_owner = bool(lst.get("processes"))

        def known(mismatches, unknown=unknown, has_owner=has_owner):
            # with the owner unknown, a program check is neither met nor broken; so is a container
            # or image check on a container the runtime did not name
            return [m for m in mismatches if not ((unknown or has_owner) and m[2] is None)]

        maybe = [a for a in allow_index.for_port(lst.get("port")) if a.listener_anchor(lst, unknown)]
        allowed = [a for a in maybe if not known(a.listener_mismatches(lst))]
        best_deny = (
            max(denied, key=lambda e: (e.layer, -SEVERITY_RANK.get(e.severity or "error", 0), -e.index)) if denied else None
        )
        best_allow = max(allowed, key=lambda e: (e.layer, -e.index)) if allowed else None
        for a in allowed:
            satisfied.setdefault(id(a), set()).add((lst.get("proto"), lst.get("port")))
        undetermined = [m for m in best_allow.listener_mismatches(lst) if m[2] is None] if (
            best_allow is not None and has_owner) else []
        if undetermined and not best_allow.allow_unresolved:
            _add_unresolved(
                ctx, subject, match,
                {"cause": "runtime", "causes": ["runtime"], "pids": [],
                 "detail": "the container runtime did not name this socket's container, so %s (rule at %s) cannot be "
                           "judged" % (", ".join(m[1] for m in undetermined), best_allow.where())},
                "listener", skey, "proto: %s, port: %s" % (lst.get("proto"), lst.get("port")))
        if unknown and not any(a.allow_unresolved for a in allowed):
            _add_unresolved(
                ctx,
                subject,
                match,
                unresolved,
                "listener",
                skey,
                "proto: %s, port: %s" % (lst.get("proto"), lst.get("port")),
            )
        if best_deny is not None and (best_allow is None or best_deny.layer >= best_allow.layer):
            why = " (%s)" % best_deny.reason if best_deny.reason else ""
            ctx.add(
                "forbidden-listener",
                subject,
                "not listening: forbidden by deny rule %s%s" % (best_deny.describe(), why),
                "listening: %s" % owners,
                "%s is forbidden by the policy%s, but %s listens on it; stop or reconfigure the "
                "service, or remove the deny rule at %s" % (subject, why, owners, best_deny.where()),
                source=best_deny.source,
                severity=best_deny.severity,
                match=match,
                sortkey=skey,
            )
            continue
        if best_allow is not None:
            continue
        candidates = maybe
        if candidates:
            scored = sorted(
                candidates,
                key=lambda e: (len(known(e.listener_mismatches(lst))), -e.layer, e.index),
            )
            best = scored[0]
            if best.required:
                near_hit.add((id(best), lst.get("port")))
            for rule, expected, actual in known(best.listener_mismatches(lst)):
                sev = best.severity
                if actual is None:  # no process holds the socket (a kernel socket), and nothing hid one
                    actual = "no process holds this socket"
                    msg = (
                        "%s is allowed only for %s (rule at %s), but no process holds this socket "
                        "(a kernel socket, or one in flight); find out what opened it, or change the rule"
                        % (subject, expected, best.where())
                    )
                elif rule == "wrong-bind":
                    msg = (
                        "%s is bound to %s but the rule at %s allows it only on %s; rebind the "
                        "service (%s) or change the rule" % (subject, actual, best.where(), expected[5:], owners)
                    )
                elif rule == "wrong-owner":
                    msg = (
                        "%s is held by %s but the rule at %s allows only %s on it; find out why "
                        "%s owns the port, or change the rule" % (subject, owners, best.where(), expected, actual)
                    )
                else:
                    msg = "%s runs as %s but the rule at %s expects %s; fix the service account or the rule" % (
                        subject,
                        actual,
                        best.where(),
                        expected,
                    )
                ctx.add(
                    rule,
                    subject,
                    expected,
                    actual,
                    msg,
                    source=best.source,
                    severity=sev,
                    match=match,
                    sortkey=skey,
                )
            continue
        if default == "deny":
            ctx.add(
                "unexpected-listener",
                subject,
                "no listener (no allow rule matches; listeners.default: deny)",
                "listening: %s" % owners,
                "%s is open (%s) but no allow rule matches it; stop the service if it should not "
                "run, or add an allow entry to the policy" % (subject, owners),
                source=_source(pol, "default") or _source(pol),
                match=match,
                sortkey=skey,
            )

    for a in allow:
        if not a.required:
            continue
        seen = satisfied.get(id(a), set())
        nearly = {port for eid, port in near_hit if eid == id(a)}
        for unit in [None] if a.ports is None else a.ports:
            if unit is None:
                ok = bool(seen) or bool(nearly)
                where = "a listener"
            else:
                ok = any(_port_in(port, [unit]) for dummy, port in seen) or any(_port_in(port, [unit]) for port in nearly)
                where = "port %s" % _ports_text([unit])
            if ok:
                continue
            protos = "/".join(a.protos) if a.protos else "tcp/udp"
            subject = "%s %s" % (protos, where if unit is not None else a.describe())
            ctx.add(
                "missing-listener",
                subject,
                "listening: %s" % a.describe(),
                "not listening",
                "%s is required by the rule at %s but nothing listens there; start the service "
                "or drop `required`" % (a.describe(), a.where()),
                source=a.source,
                severity=a.severity,
                match={
                    "proto": a.protos[0] if len(a.protos) == 1 else None,
                    "family": a.family,
                    "port": unit[0] if unit else None,
                    "programs": list(a.programs or []),
                    "users": list(a.users or []),
                },
                sortkey=(
                    a.protos[0] if a.protos else "",
                    unit[0] if unit else 0,
                    "",
                    "",
                ),
            )


def _count_scoped(ctx, proto, state, limit, listeners, conns):
    ports = parse_ports(limit["port"], ctx.services) if limit.get("port") is not None else None
    programs = [str(p) for p in _as_list(limit.get("program"))] or None
    n = 0
    socks = list(conns or [])
    if state in ("LISTEN",) or (proto == "udp" and state == "CLOSED"):
        socks = socks + [dict(x, local_port=x.get("port")) for x in listeners]
    for s in socks:
        if s.get("proto") != proto or s.get("state") != state:
            continue
        if ports is not None and not _port_in(s.get("local_port"), ports):
            continue
        if programs is not None and not _program_matches(programs, s.get("processes")):
            continue
        n += 1
    return n, ports, programs


def _eval_states(ctx, listeners, conns):
    counts = ctx.facts.get("counts") or {}
    stats = ctx.facts.get("counts_stats") or {}
    for proto, state, limit in _iter_limits(ctx.policy):
        if not isinstance(limit, dict):
            raise PolicyEvalError("states.%s.%s must be a mapping {max, min, severity}" % (proto, state))
        src = _source(limit)
        scope = ""
        if _scoped(limit):
            if conns is None and state not in ("LISTEN",):
                ctx.add(
                    "incomplete-facts",
                    "%s %s connections" % (proto, state),
                    "the connection list (gather with connections: compact or full)",
                    "connections: %s" % (ctx.facts.get("collector") or {}).get("connections", "absent"),
                    "the state limit at %s is scoped to a port or program, which needs the "
                    "connection list; gather facts with connections: compact" % (src or "states"),
                    source=src,
                    severity=_unknown_owner_severity(ctx),
                    match={"proto": proto, "state": state},
                    sortkey=(proto, 0, state),
                )
                continue
            bits = []
            if limit.get("port") is not None:
                bits.append("port %s" % _ports_text(parse_ports(limit["port"], ctx.services)))
            if limit.get("program") is not None:
                bits.append("program %s" % ",".join(str(p) for p in _as_list(limit["program"])))
            scope = " " + " ".join(bits)
        netns = [str(x) for x in _as_list(limit.get("netns"))] or None
        # (label, max, min) per namespace the limit is about: the primary one (the top-level
        # counts), or with `netns` each namespace it names (its own counts), judged separately
        values = []
        if netns is None:
            if scope:
                n = _count_scoped(ctx, proto, state, limit, [x for x in listeners if ctx.spaces.is_primary(x)],
                                  [c for c in conns or [] if ctx.spaces.is_primary(c)])[0]
                values.append((None, n, n))
            else:
                table = counts.get(proto)
                if not isinstance(table, dict) or state not in table:
                    continue
                st = (stats.get(proto) or {}).get(state)
                values.append((None, st.get("max", table[state]) if isinstance(st, dict) else table[state],
                               st.get("min", table[state]) if isinstance(st, dict) else table[state]))
        else:
            for inode in sorted(ctx.spaces.by_inode):
                probe = {"netns": inode}
                if not ctx.spaces.netns_matches(netns, probe):
                    continue
                label = ctx.spaces.label(probe)
                if scope:
                    n = _count_scoped(ctx, proto, state, limit, [x for x in listeners if x.get("netns") == inode],
                                      [c for c in conns or [] if c.get("netns") == inode])[0]
                else:
                    table = (ctx.spaces.by_inode[inode].get("counts") or {}).get(proto)
                    if not isinstance(table, dict) or not _is_int(table.get(state)):
                        continue
                    n = table[state]
                values.append((label, n, n))
        for label, value_max, value_min in values:
            _add_state_findings(ctx, proto, state, limit, src, scope, label, value_max, value_min,
                                bool(stats) and not scope and label is None)


def _add_state_findings(ctx, proto, state, limit, src, scope, label, value_max, value_min, sampled):
    """The state-threshold findings of one limit against one count (max over samples, min), in
    the namespace `label` (None: the primary one)."""
    scope = scope + (" (%s)" % label if label else "")
    subject = "%s %s%s" % (proto, state, scope)
    match = {"proto": proto, "state": state, "netns": label}
    if limit.get("port") is not None:
        match["port"] = parse_ports(limit["port"], ctx.services)[0][0]
    mx, mn = limit.get("max"), limit.get("min")
    sampled = " (max over samples)" if sampled else ""
    if mx is not None and value_max > mx:
        ctx.add(
            "state-threshold",
            subject,
            "at most %s" % mx,
            str(value_max),
            "%d %s sockets in %s%s%s, above the limit of %s set at %s; look for the process "
            "piling them up (ss -tanp state %s)"
            % (
                value_max,
                proto,
                state,
                scope,
                sampled,
                mx,
                src or "states",
                state.lower().replace("_", "-"),
            ),
            source=src,
            severity=limit.get("severity"),
            match=match,
            sortkey=(proto, 0, state),
        )
    if mn is not None and value_min < mn:
        ctx.add(
            "state-threshold",
            subject,
            "at least %s" % mn,
            str(value_min),
            "only %d %s sockets in %s%s, below the minimum of %s set at %s; check that the "
            "service is running and serving" % (value_min, proto, state, scope, mn, src or "states"),
            source=src,
            severity=limit.get("severity"),
            match=match,
            sortkey=(proto, 0, state),
        )


def _eval_queues(ctx, listeners, conns):
    queues = ctx.policy.get("queues") or {}
    lf = queues.get("listen_fill")
    if isinstance(lf, dict) and lf.get("max") is not None:
        ports = parse_ports(lf["port"], ctx.services) if lf.get("port") is not None else None
        programs = [str(p) for p in _as_list(lf.get("program"))] or None
        for lst in listeners:
            backlog = lst.get("backlog")
            if lst.get("proto") != "tcp" or not backlog:
                continue
            if ports is not None and not _port_in(lst.get("port"), ports):
                continue
            if programs is not None and not _program_matches(programs, lst.get("processes")):
                continue
            fill = float(lst.get("recv_q") or 0) / float(backlog)
            if fill > float(lf["max"]):
                subject = _listener_subject(lst)
                ctx.add(
                    "queue-threshold",
                    subject + " accept queue",
                    "accept queue fill at most %.0f%%" % (100 * float(lf["max"])),
                    "%d of %d (%.0f%%)" % (lst.get("recv_q") or 0, backlog, 100 * fill),
                    "the accept queue of %s (%s) is %.0f%% full (%d of %d); the service is not "
                    "accepting fast enough: check its workers, or raise the backlog"
                    % (
                        subject,
                        _owners_text(lst.get("processes")),
                        100 * fill,
                        lst.get("recv_q") or 0,
                        backlog,
                    ),
                    source=_source(lf),
                    severity=lf.get("severity"),
                    match=dict(_listener_match(lst)),
                    sortkey=_listener_sortkey(lst),
                )
    listen_ports = {(x.get("proto"), x.get("port")) for x in listeners}
    for key in ("recv_q", "send_q"):
        lim = queues.get(key)
        if not isinstance(lim, dict) or lim.get("max") is None:
            continue
        if conns is None:
            ctx.add(
                "incomplete-facts",
                "queues.%s" % key,
                "the connection list (gather with connections: compact or full)",
                "no connection list",
                "the %s limit at %s needs the connection list; gather facts with connections: "
                "compact" % (key, _source(lim) or "queues"),
                source=_source(lim),
                severity=_unknown_owner_severity(ctx),
                sortkey=("", 0, key),
            )
            continue
        ports = parse_ports(lim["port"], ctx.services) if lim.get("port") is not None else None
        programs = [str(p) for p in _as_list(lim.get("program"))] or None
        groups = {}
        for c in conns:
            if c.get("state") != "ESTABLISHED":
                continue
            value = c.get(key) or 0
            if value <= lim["max"]:
                continue
            if ports is not None and not (_port_in(c.get("local_port"), ports) or _port_in(c.get("remote_port"), ports)):
                continue
            if programs is not None and not _program_matches(programs, c.get("processes")):
                continue
            inbound = (c.get("proto"), c.get("local_port")) in listen_ports
            gk = (
                c.get("proto"),
                c.get("local_port") if inbound else None,
                tuple(_program_names(c.get("processes"))),
            )
            groups.setdefault(gk, []).append(c)
        for (proto, lport, progs), items in sorted(groups.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or 0, kv[0][2])):
            worst = max(items, key=lambda c: c.get(key) or 0)
            where = ("port %s" % lport) if lport is not None else "outbound"
            subject = "%s %s %s" % (proto, where, key)
            if progs:
                subject += " (%s)" % ",".join(progs)
            ctx.add(
                "queue-threshold",
                subject,
                "%s at most %s on established connections" % (key, lim["max"]),
                "%d connection(s) over, worst %d (%s -> %s)"
                % (
                    len(items),
                    worst.get(key) or 0,
                    _endpoint(worst.get("local_address"), worst.get("local_port")),
                    _endpoint(worst.get("remote_address"), worst.get("remote_port")),
                ),
                "%d established %s connection(s) on %s have %s above %s (limit at %s); %s"
                % (
                    len(items),
                    proto,
                    where,
                    key,
                    lim["max"],
                    _source(lim) or "queues",
                    "the application is not reading its socket"
                    if key == "recv_q"
                    else "the peer or the network is not keeping up",
                ),
                source=_source(lim),
                severity=lim.get("severity"),
                match={"proto": proto, "port": lport, "programs": _programs_attr(
                    [p for c in items for p in c.get("processes") or []])},
                sortkey=(proto or "", lport or 0, key),
            )


def _eval_egress(ctx, listeners, conns):
    pol = ctx.policy.get("egress") or {}
    default = pol.get("default", "allow")
    allow = [Entry(e, "egress", "allow", ctx.services, i, ctx.spaces) for i, e in enumerate(pol.get("allow") or [])]
    deny = [Entry(e, "egress", "deny", ctx.services, i, ctx.spaces) for i, e in enumerate(pol.get("deny") or [])]
    if not allow and not deny and default != "deny":
        return
    if conns is None:
        ctx.add(
            "incomplete-facts",
            "egress",
            "the connection list (gather with connections: compact or full)",
            "no connection list",
            "the egress rules (%s) need the connection list; gather facts with connections: compact" % (_source(pol) or "egress"),
            source=_source(pol),
            severity=_unknown_owner_severity(ctx),
            sortkey=("", 0, "egress"),
        )
        return
    states = [str(s) for s in _as_list(pol.get("states"))] or [
        "ESTABLISHED",
        "SYN_SENT",
    ]
    ignore_loopback = pol.get("ignore_loopback", True)
    listen_ports = {(x.get("proto"), x.get("port")) for x in listeners}
    groups = {}
    for c in conns:
        if c.get("state") not in states or not c.get("remote_port"):
            continue
        if (c.get("proto"), c.get("local_port")) in listen_ports:
            continue  # inbound to one of our listeners
        ip = _norm_addr(c.get("remote_address"))
        if ignore_loopback and ip is not None and ip.is_loopback:
            continue
        denied = [d for d in deny if d.matches_conn_peer(c)]
        allowed = [a for a in allow if a.matches_conn_peer(c)]
        best_deny = (
            max(denied, key=lambda e: (e.layer, -SEVERITY_RANK.get(e.severity or "error", 0), -e.index)) if denied else None
        )
        best_allow = max(allowed, key=lambda e: (e.layer, -e.index)) if allowed else None
        if best_deny is not None and (best_allow is None or best_deny.layer >= best_allow.layer):
            rule, entry = "forbidden-peer", best_deny
        elif best_allow is None and default == "deny":
            rule, entry = "unexpected-peer", None
        else:
            continue
        gk = (
            rule,
            c.get("proto"),
            str(ip if ip is not None else c.get("remote_address")),
            c.get("remote_port"),
            tuple(_program_names(c.get("processes"))),
            id(entry),
            ctx.spaces.label(c) or "",
        )
        groups.setdefault(gk, (entry, []))[1].append(c)
    shown = {}
    for gk in sorted(groups, key=lambda k: (k[0], k[1] or "", k[2], k[3] or 0, k[4])):
        rule, proto, addr, rport, progs, dummy, label = gk
        entry, items = groups[gk]
        shown[rule] = shown.get(rule, 0) + 1
        if shown[rule] > MAX_PEER_FINDINGS:
            continue
        subject = "%s -> %s%s" % (proto, _endpoint(addr, rport), " (%s)" % label if label else "")
        procs = []
        for c in items:
            procs.extend(c.get("processes") or [])
        owners = _owners_text(procs)
        actual = "%d connection(s) from %s" % (len(items), owners)
        users, uids = _users_attr(None, None, procs)
        match = {
            "proto": proto,
            "remote_port": rport,
            "remote_address": addr,
            "programs": _programs_attr(procs),
            "users": users,
            "uids": uids,
            **_context_fields(items[0] if items else {}, procs, ctx.spaces)
        }
        if rule == "forbidden-peer":
            why = " (%s)" % entry.reason if entry.reason else ""
            ctx.add(
                rule,
                subject,
                "no connection: forbidden by %s%s" % (entry.describe(), why),
                actual,
                "%s connects to %s, which the rule at %s forbids%s; stop it or fix its configuration"
                % (owners, _endpoint(addr, rport), entry.where(), why),
                source=entry.source,
                severity=entry.severity,
                match=match,
                sortkey=(proto, rport, addr),
            )
        else:
            ctx.add(
                rule,
                subject,
                "no connection (no egress allow rule matches; egress.default: deny)",
                actual,
                "%s connects to %s but no egress allow rule matches; find out why, or add an "
                "egress allow entry" % (owners, _endpoint(addr, rport)),
                source=_source(pol, "default") or _source(pol),
                match=match,
                sortkey=(proto, rport, addr),
            )

    for rule, n in sorted(shown.items()):
        if n > MAX_PEER_FINDINGS:
            rest = [groups[k][1] for k in groups if k[0] == rule]
            extra = n - MAX_PEER_FINDINGS
            ctx.add(
                rule,
                "%d more peers" % extra,
                "see the %d %s findings above" % (MAX_PEER_FINDINGS, rule),
                "%d more remote endpoints, %d connection(s) in all" % (extra, sum(len(r) for r in rest)),
                "%d more remote endpoints break the egress policy; list them with ss -tnp and fix the "
                "configuration of the programs above" % extra,
                source=_source(pol),
                match={},
                sortkey=("~", 65536, "more"),
            )


def _unix_sockets(facts):
    """UNIX sockets grouped by namespace and path (bound sockets only)."""
    by_path = {}
    for s in facts.get("unix") or []:
        path = s.get("path")
        if not path:
            continue
        netns = s.get("netns") if isinstance(s.get("netns"), int) else None
        cur = by_path.get((netns or 0, path))
        if cur is None:
            cur = by_path[(netns or 0, path)] = {
                "netns": netns,
                "container": s.get("container"),
                "path": path,
                "types": [],
                "states": [],
                "processes": [],
                "mode": None,
                "file_uid": None,
                "abstract": bool(s.get("abstract")) or path.startswith("@"),
                "owner_unresolved": None,
            }
        if isinstance(s.get("owner_unresolved"), dict) and cur["owner_unresolved"] is None:
            cur["owner_unresolved"] = s["owner_unresolved"]
        if s.get("type") and s["type"] not in cur["types"]:
            cur["types"].append(s["type"])
        if s.get("state") and s["state"] not in cur["states"]:
            cur["states"].append(s["state"])
        for p in s.get("processes") or []:
            if p.get("pid") not in [q.get("pid") for q in cur["processes"]]:
                cur["processes"].append(p)
        if s.get("mode") is not None and cur["mode"] is None:
            cur["mode"] = s["mode"]
        if s.get("file_uid") is not None and cur["file_uid"] is None:
            cur["file_uid"] = s["file_uid"]
    for cur in by_path.values():
        ww = False
        if cur["mode"] is not None:
            try:
                mode = int(str(cur["mode"]), 8) if not isinstance(cur["mode"], int) else cur["mode"]
                ww = bool(mode & 0o002)
            except ValueError:
                ww = False
        cur["world_writable"] = ww
        cur["processes"].sort(key=lambda p: p.get("pid") or 0)
    return [by_path[k] for k in sorted(by_path)]


def _eval_unix(ctx):
    pol = ctx.policy.get("unix") or {}
    default = pol.get("default", "allow")
    allow = [Entry(e, "unix", "allow", ctx.services, i, ctx.spaces) for i, e in enumerate(pol.get("allow") or [])]
    deny = [Entry(e, "unix", "deny", ctx.services, i, ctx.spaces) for i, e in enumerate(pol.get("deny") or [])]
    ww = pol.get("world_writable") or {}
    ww_sev = ww.get("severity")
    ww_allow = [str(p) for p in _as_list(ww.get("allow"))]
    # Only rules on program or user need a UNIX socket's owner (path, type and mode do not).
    owner_rules = any(e.programs is not None or e.users is not None for e in allow + deny)
    for sock in _unix_sockets(ctx.facts):
        label = ctx.spaces.label(sock)
        subject = "unix %s%s" % (sock["path"], " (%s)" % label if label else "")
        owners = _owners_text(sock["processes"])
        unresolved = _owner_unresolved(ctx, sock) if owner_rules else None
        users, uids = _users_attr(None, sock.get("file_uid"), sock["processes"])
        match = {
            "path": sock["path"],
            "programs": _programs_attr(sock["processes"]),
            "proto": "unix",
            "users": users,
            "uids": uids,
            **_context_fields(sock, sock["processes"], ctx.spaces)
        }
        skey = ("unix", 0, sock["path"])
        denied = [d for d in deny if d.matches_unix(sock)]
        allowed = [a for a in allow if a.matches_unix(sock, unresolved is not None)]
        if unresolved is not None and not any(a.allow_unresolved for a in allowed):
            _add_unresolved(ctx, subject, match, unresolved, "UNIX socket", skey, "path: %s" % sock["path"])
        best_deny = (
            max(denied, key=lambda e: (e.layer, -SEVERITY_RANK.get(e.severity or "error", 0), -e.index)) if denied else None
        )
        best_allow = max(allowed, key=lambda e: (e.layer, -e.index)) if allowed else None
        mode_txt = " mode %s" % sock["mode"] if sock["mode"] is not None else ""
        if best_deny is not None and (best_allow is None or best_deny.layer >= best_allow.layer):
            why = " (%s)" % best_deny.reason if best_deny.reason else ""
            ctx.add(
                "forbidden-unix-socket",
                subject,
                "absent: forbidden by %s%s" % (best_deny.describe(), why),
                "present%s, %s" % (mode_txt, owners),
                "the UNIX socket %s%s is forbidden by the rule at %s%s; remove it or fix its "
                "permissions (held by %s)" % (sock["path"], mode_txt, best_deny.where(), why, owners),
                source=best_deny.source,
                severity=best_deny.severity,
                match=match,
                sortkey=skey,
            )
            continue
        if best_allow is None and default == "deny":
            ctx.add(
                "unexpected-unix-socket",
                subject,
                "no socket (no unix allow rule matches; unix.default: deny)",
                "present%s, %s" % (mode_txt, owners),
                "the UNIX socket %s (%s) matches no allow rule; remove it or add an unix allow entry" % (sock["path"], owners),
                source=_source(pol, "default") or _source(pol),
                match=match,
                sortkey=skey,
            )
        if sock["world_writable"] and ww_sev != "ignore" and not _glob_match(ww_allow, [sock["path"]]):
            if best_allow is not None and best_allow.world_writable is True:
                continue  # explicitly allowed to be world-writable
            ctx.add(
                "world-writable-unix-socket",
                subject,
                "not writable by all users (mode o-w)",
                "mode %s" % sock["mode"],
                "the UNIX socket %s is world-writable (mode %s, held by %s): any local user can "
                "connect to it; tighten its mode or add it to unix.world_writable.allow" % (sock["path"], sock["mode"], owners),
                source=_source(ww) or _source(pol),
                severity=ww_sev,
                match=match,
                sortkey=skey,
            )


def _eval_completeness(ctx):
    collector = ctx.facts.get("collector") or {}
    if not ctx.facts or "listeners" not in ctx.facts:
        ctx.add(
            "incomplete-facts",
            "facts",
            "ansible_facts.netstat from netaudit.netstat.netstat_facts",
            "no listener table",
            "the facts carry no listener table; gather them with netaudit.netstat.netstat_facts before auditing",
            severity="error",
            source=_source(ctx.policy.get("completeness") or {}),
            sortkey=("", 0, "facts"),
        )
        return
    if not isinstance(collector, dict) or collector.get("complete", True) is not False:
        return
    sev = ctx.incomplete_severity
    if sev == "ignore":
        return
    reasons = [str(r) for r in collector.get("reasons") or []] or ["no reason given"]
    codes = collector.get("reason_codes")
    per_socket = any(f["rule"] == "incomplete-facts" and f.get("unresolved") for f in ctx.findings)
    if isinstance(codes, list) and len(codes) == len(reasons):
        # unresolved owners are findings of the sockets concerned (a socket no rule looks at, such
        # as an unnamed UNIX socket, needs no owner); what no socket carries is said here
        reasons = [r for r, c in zip(reasons, codes) if c != "owners-unresolved"]
    elif per_socket:
        return  # older facts: every listener without an owner already has its finding
    if not reasons:
        return
    ctx.add(
        "incomplete-facts",
        "collector",
        "complete facts",
        "; ".join(reasons),
        "the facts are incomplete (%s); gather again, or set completeness.severity in the policy" % "; ".join(reasons),
        source=_source(ctx.policy.get("completeness") or {}, "severity"),
        severity=sev,
        match={"cause": "collector"},
        sortkey=("", 0, "collector"),
    )


# --------------------------------------------------------------------------------------------
# waivers


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


# --------------------------------------------------------------------------------------------
# entry point


# --------------------------------------------------------------------------------------------
# facts shape (what the engine reads); anything else is a PolicyEvalError naming the field


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check(cond, where, what, value):
    if not cond:
        kind = "null" if value is None else type(value).__name__
        raise PolicyEvalError("facts: %s must be %s, not %s %s" % (where, what, kind, _short_repr(value)))


def _short_repr(value):
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_port(value, where):
    _check(value is None or (_is_int(value) and 0 <= value <= 65535), where, "a port number (0-65535) or null", value)


def _check_processes(procs, where):
    _check(procs is None or isinstance(procs, list), where, "a list of process mappings", procs)
    for i, proc in enumerate(procs or []):
        _check(isinstance(proc, dict), "%s[%d]" % (where, i), "a process mapping", proc)
        for key in ("name", "exe", "user"):
            v = proc.get(key)
            _check(v is None or isinstance(v, str), "%s[%d].%s" % (where, i, key), "text or null", v)
        for key in ("pid", "uid"):
            v = proc.get(key)
            _check(v is None or _is_int(v), "%s[%d].%s" % (where, i, key), "an integer or null", v)


def _check_context(sock, where):
    """netns (an inode) and container ({id, name, image, ...}) of a socket, when present."""
    v = sock.get("netns")
    _check(v is None or _is_int(v), where + ".netns", "a namespace inode or null", v)
    cont = sock.get("container")
    _check(cont is None or (isinstance(cont, dict) and isinstance(cont.get("id"), str)), where + ".container",
           "a container mapping with an id, or null", cont)
    for key in ("name", "image"):
        if isinstance(cont, dict):
            _check(cont.get(key) is None or isinstance(cont.get(key), str), "%s.container.%s" % (where, key),
                   "text or null", cont.get(key))


def _check_count(value, where):
    _check(_is_int(value) and value >= 0, where, "a count (a whole number >= 0)", value)


def check_facts(facts):
    """Raise PolicyEvalError naming the first field of `facts` the engine cannot read (a state
    count that is text, a process that is a number, `listeners: 7`, a port of 70000, ...)."""
    collector = facts.get("collector")
    _check(collector is None or isinstance(collector, dict), "collector", "a mapping", collector)
    if isinstance(collector, dict):
        for key in ("reasons", "reason_codes"):
            v = collector.get(key)
            _check(v is None or isinstance(v, list), "collector.%s" % key, "a list", v)
    listeners = facts.get("listeners")
    _check(listeners is None or isinstance(listeners, list), "listeners", "a list of listener mappings", listeners)
    for i, lst in enumerate(listeners or []):
        where = "listeners[%d]" % i
        _check(isinstance(lst, dict), where, "a listener mapping", lst)
        _check_port(lst.get("port"), where + ".port")
        for key in ("proto", "family", "address", "user", "state"):
            v = lst.get(key)
            _check(v is None or isinstance(v, str), "%s.%s" % (where, key), "text or null", v)
        v = lst.get("inode")  # psutil's sockets have synthetic negative keys
        _check(v is None or _is_int(v), where + ".inode", "an integer or null", v)
        for key in ("uid", "recv_q", "backlog"):
            v = lst.get(key)
            _check(v is None or (_is_int(v) and v >= 0), "%s.%s" % (where, key), "a whole number >= 0 or null", v)
        _check_processes(lst.get("processes"), where + ".processes")
        v = lst.get("owner_unresolved")
        _check(v is None or isinstance(v, dict), where + ".owner_unresolved", "a mapping or null", v)
        _check_context(lst, where)
    published = facts.get("published")
    _check(published is None or isinstance(published, list), "published", "a list of port bindings", published)
    for i, pub in enumerate(published or []):
        where = "published[%d]" % i
        _check(isinstance(pub, dict), where, "a port binding mapping", pub)
        _check_port(pub.get("port"), where + ".port")
        _check_port(pub.get("container_port"), where + ".container_port")
        for key in ("proto", "family", "address"):
            v = pub.get(key)
            _check(v is None or isinstance(v, str), "%s.%s" % (where, key), "text or null", v)
        _check_context(pub, where)
    spaces = facts.get("namespaces")
    _check(spaces is None or isinstance(spaces, list), "namespaces", "a list of namespace mappings", spaces)
    for i, ns in enumerate(spaces or []):
        where = "namespaces[%d]" % i
        _check(isinstance(ns, dict), where, "a namespace mapping", ns)
        _check(ns.get("inode") is None or _is_int(ns.get("inode")), where + ".inode", "an integer", ns.get("inode"))
        for key in ("name",):
            _check(ns.get(key) is None or isinstance(ns.get(key), str), "%s.%s" % (where, key), "text or null", ns.get(key))
        for key in ("names", "containers"):
            _check(ns.get(key) is None or isinstance(ns.get(key), list), "%s.%s" % (where, key), "a list", ns.get(key))
        for j, c in enumerate(ns.get("containers") or []):
            _check(isinstance(c, dict) and isinstance(c.get("id"), str), "%s.containers[%d]" % (where, j),
                   "a container mapping with an id", c)
    counts = facts.get("counts")
    _check(counts is None or isinstance(counts, dict), "counts", "a mapping of protocol -> state counts", counts)
    for proto, table in (counts or {}).items():
        _check(isinstance(table, dict), "counts.%s" % proto, "a mapping of state -> count", table)
        for state, n in table.items():
            _check_count(n, "counts.%s.%s" % (proto, state))
    stats = facts.get("counts_stats")
    _check(stats is None or isinstance(stats, dict), "counts_stats", "a mapping", stats)
    for proto, table in (stats or {}).items():
        _check(isinstance(table, dict), "counts_stats.%s" % proto, "a mapping", table)
        for state, st in table.items():
            _check(isinstance(st, dict), "counts_stats.%s.%s" % (proto, state), "a mapping {min, max, last}", st)
            for key, n in st.items():
                _check_count(n, "counts_stats.%s.%s.%s" % (proto, state, key))
    unix = facts.get("unix")
    _check(unix is None or isinstance(unix, list), "unix", "a list of UNIX socket mappings", unix)
    for i, u in enumerate(unix or []):
        where = "unix[%d]" % i
        _check(isinstance(u, dict), where, "a UNIX socket mapping", u)
        for key in ("path", "type", "state"):
            v = u.get(key)
            _check(v is None or isinstance(v, str), "%s.%s" % (where, key), "text or null", v)
        v = u.get("mode")
        _check(v is None or (isinstance(v, str) and v.isdigit()) or _is_int(v), where + ".mode", "an octal mode or null", v)
        v = u.get("file_uid")
        _check(v is None or _is_int(v), where + ".file_uid", "an integer or null", v)
        _check_processes(u.get("processes"), where + ".processes")
        _check_context(u, where)
    conns = facts.get("connections")
    if isinstance(conns, list):
        for i, c in enumerate(conns):
            where = "connections[%d]" % i
            _check(isinstance(c, dict), where, "a connection mapping", c)
            _check_port(c.get("local_port"), where + ".local_port")
            _check_port(c.get("remote_port"), where + ".remote_port")
            for key in ("recv_q", "send_q", "count"):
                v = c.get(key)
                _check(v is None or (_is_int(v) and v >= 0), "%s.%s" % (where, key), "a whole number >= 0 or null", v)
            _check_processes(c.get("processes"), where + ".processes")
    elif isinstance(conns, dict):
        cols = conns.get("columns")
        _check(isinstance(cols, list) and all(isinstance(c, str) for c in cols), "connections.columns",
               "a list of column names", cols)
        rows = conns.get("rows")
        _check(rows is None or isinstance(rows, (str, list)), "connections.rows", "text (a line per socket) or a list", rows)
        procs = facts.get("processes")
        _check(procs is None or isinstance(procs, dict), "processes", "a mapping of pid -> process", procs)
        for pid, proc in (procs or {}).items():
            _check(isinstance(proc, dict), "processes.%s" % pid, "a process mapping", proc)
    else:
        _check(conns is None, "connections", "a list, the compact mapping or null", conns)


def _today(today):
    if today is None:
        return datetime.date.today()
    return parse_date(today)


def _sortable(value):
    return tuple((0, v) if isinstance(v, (int, float)) else (1, str(v)) for v in value)


def _published_only(facts):
    """The ports a container runtime publishes with no host socket (NAT rules alone), as listeners
    of their own kind: reachable from outside, so judged like listeners."""
    out = []
    primary = ((facts.get("collector") or {}) if isinstance(facts.get("collector"), dict) else {}).get("primary_netns")
    for pub in facts.get("published") or []:
        if not isinstance(pub, dict) or pub.get("socket"):
            continue
        out.append({
            "kind": "published",
            "proto": pub.get("proto"),
            "family": pub.get("family"),
            "address": pub.get("address"),
            "port": pub.get("port"),
            "exposure": pub.get("exposure"),
            "container_port": pub.get("container_port"),
            "container": pub.get("container"),
            "processes": [],
            "owner_unresolved": None,
            "netns": primary,
        })
    return out


def evaluate(facts, policy, today=None, incomplete_severity=None, fail_on="error"):
    """Evaluate ansible_facts.netstat against a policy (one loaded dict, a list, or merged).

    `today` (date or 'YYYY-MM-DD', default: the current date) decides which waivers are active.
    `incomplete_severity` overrides the policy's completeness.severity (error|warning|info|ignore).
    `fail_on` (error|warning|info|never) is the lowest severity that counts against the verdict
    (`never` judges at `error` but, with fails(), fails nothing).
    Raises PolicyEvalError for a policy value the engine cannot use.
    """
    if facts is None:
        facts = {}
    if not isinstance(facts, dict):
        raise PolicyEvalError("facts must be a mapping (ansible_facts.netstat), not %s" % type(facts).__name__)
    if "netstat" in facts and "listeners" not in facts and isinstance(facts["netstat"], dict):
        facts = facts["netstat"]  # ansible_facts passed whole
    check_facts(facts)
    merged = merge_policies(policy)
    ctx = _Ctx(facts, merged, _today(today), incomplete_severity)
    listeners = [x for x in facts.get("listeners") or [] if isinstance(x, dict)]
    listeners.extend(_published_only(facts))
    conns = normalise_connections(facts)
    _eval_listeners(ctx, listeners)
    _eval_states(ctx, listeners, conns)
    _eval_queues(ctx, listeners, conns)
    _eval_egress(ctx, listeners, conns)
    _eval_unix(ctx)
    _eval_completeness(ctx)
    _apply_waivers(ctx)

    findings = sorted(
        ctx.findings,
        key=lambda f: (
            f["waived"] is not None,
            SEVERITY_RANK.get(f["severity"], 9),
            f["rule"],
            _sortable(f["_sort"]),
            f["subject"],
            str(f["expected"]),
            str(f["actual"]),
            str(f["source"]),
        ),
    )
    for f in findings:
        del f["_sort"]
    counts = {s: 0 for s in SEVERITIES}
    waived = 0
    for f in findings:
        if f["waived"] is not None:
            waived += 1
        else:
            counts[f["severity"]] = counts.get(f["severity"], 0) + 1
    verdict, drift_n, incomplete_n = judge(findings, fail_on)
    compliant = verdict == "compliant"
    return {
        "verdict": verdict,
        "compliant": compliant,
        "drift_findings": drift_n,
        "incomplete_findings": incomplete_n,
        "counts": counts,
        "waived": waived,
        "findings": findings,
        "summary": summarize(verdict, counts, waived),
        "policies": list(merged.get("policies") or []),
        "policy_files": list(merged.get("files") or []),
    }


# Host verdicts (DESIGN.md): what was seen, in order of precedence when several hold.
VERDICTS = ("compliant", "drift", "incomplete", "unreachable", "failed")


def counted(findings, fail_on="error"):
    """The findings that count against the verdict: unwaived, at or above `fail_on` (`never`
    judges at `error`)."""
    limit = SEVERITY_RANK.get("error" if fail_on in (None, "never") else fail_on, 0)
    return [f for f in findings if not f.get("waived") and SEVERITY_RANK.get(f.get("severity"), 9) <= limit]


def judge(findings, fail_on="error"):
    """(verdict, drift findings, incomplete findings) from counted(findings, fail_on): drift when
    any is not incomplete-facts (drift wins), incomplete when the only ones are incomplete-facts,
    else compliant."""
    found = counted(findings, fail_on)
    incomplete = sum(1 for f in found if f.get("rule") == "incomplete-facts")
    drift = len(found) - incomplete
    verdict = "drift" if drift else "incomplete" if incomplete else "compliant"
    return verdict, drift, incomplete


def summarize(verdict, counts, waived=0):
    if verdict is True or verdict is False:  # the former signature: compliant or not
        verdict = "compliant" if verdict else "drift"
    text = "%s: %d error(s), %d warning(s), %d info" % (
        verdict,
        counts.get("error", 0),
        counts.get("warning", 0),
        counts.get("info", 0),
    )
    if waived:
        text += ", %d waived" % waived
    return text


def fails(result, fail_on="error"):
    """True when `result` has unwaived findings at or above `fail_on` (error|warning|info|never)."""
    if fail_on in (None, "never"):
        return False
    if fail_on not in SEVERITY_RANK:
        raise PolicyEvalError("fail_on must be one of error, warning, info, never; got %r" % (fail_on,))
    limit = SEVERITY_RANK[fail_on]
    return any(n and SEVERITY_RANK[s] <= limit for s, n in result["counts"].items() if s in SEVERITY_RANK)
