# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""The engine's vocabulary and primitive matchers: severities, rule ids, service names, bind classes;
ports, binds, CIDRs and dates parsed; globs on programs, users, units and containers.

This is a private module_utils file of netaudit.netstat, part of the policy engine whose entry
point is _policy.py; its API may change at any time. Standard library only, no Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import fnmatch
import ipaddress
import os

from ansible_collections.netaudit.netstat.plugins.module_utils._common import (
    STATE_NAMES,
    ip_exposure,
    normalise_ip,
    UNIX_STATE_NAMES as _UNIX_STATE_NAMES,
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


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)
