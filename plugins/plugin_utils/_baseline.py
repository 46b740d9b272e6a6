# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Learn mode: a socket policy from the facts of one golden host or the union of a group.

This is a private plugin_utils file of netaudit.netstat; its API may change at any time.
Pure functions, standard library and PyYAML only, no Ansible imports: the netstat_baseline
action plugin and the unit tests call them directly.

``learn(facts_by_host, ...)`` returns a policy (plain dict, conforming to
policies/schema/netstat-policy.schema.json) plus the notes that explain it;
``render(learned)`` turns that into commented YAML.

What is learned:

- ``listeners`` (closed world, ``default: deny``): one allow entry per protocol, port and set of
  owning programs, with the bind classes (any = wildcard, loopback, private, ...) and socket
  users seen; ``required: true`` when every learned host had the listener.
  A listener outside the primary network namespace (facts gathered with ``namespaces: all``),
  or held for a container, gets its container and image (``container:``, ``image:``), or its
  namespace's name (``netns:``) when no container owns it; a port published by NAT alone is
  learned like a listener, with its container.
- ``states``: for TCP and UDP, a ``max`` per state of ``observed maximum * headroom`` (at least
  ``state_floor``), so normal load does not drift but a leak or a flood does.
"""

from __future__ import annotations

import math

import yaml

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy, _scope
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _report

# States that get a learned limit. LISTEN is covered by the listener rules; UNKNOWN and CLOSED
# (TCP) are never meaningful for a limit.
LEARNED_STATES = {
    "tcp": (
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE_WAIT",
        "LAST_ACK",
        "CLOSING",
    ),
    "udp": ("ESTABLISHED", "CLOSED"),
}

# exposure (ansible_facts.netstat listeners) -> bind class the policy language names
_BIND_OF_EXPOSURE = {
    "wildcard": "any",
    "loopback": "loopback",
    "private": "private",
    "public": "public",
    "link-local": "link-local",
    "multicast": "multicast",
}
_BIND_ORDER = ("any", "loopback", "private", "link-local", "multicast", "public")

COMMENT_LIMIT = 100


class BaselineError(ValueError):
    """The facts cannot be learned from; the message says why."""


def glob_escape(name):
    """A literal program name as an fnmatch pattern (policy programs are globs)."""
    return "".join("[%s]" % c if c in "*?[" else c for c in str(name))


def comment(text, limit=COMMENT_LIMIT):
    """Text safe inside a YAML comment: one line, controls visible, truncated."""
    return _report.clean(text, limit)


def _bind_of(listener):
    exposure = listener.get("exposure")
    if exposure in _BIND_OF_EXPOSURE:
        return _BIND_OF_EXPOSURE[exposure]
    return str(listener.get("address"))  # unknown class: the address itself


def _programs(listener):
    return tuple(sorted({str(p.get("name")) for p in listener.get("processes") or [] if p.get("name")}))


def _endpoint(listener):
    address = str(listener.get("address"))
    if ":" in address:
        address = "[%s]" % address
    return "%s:%s" % (address, listener.get("port"))


def _where(listener, spaces):
    """(container, image, netns) a learned entry names: the socket's container (by name; by short
    id when the runtime gave none) and image, else the name of its namespace when it is not the
    primary one; (None, None, None) for a plain host socket."""
    conts = _scope.socket_containers(listener)
    primary = spaces.is_primary(listener)
    if primary and (spaces.by_inode.get(spaces.primary) or {}).get("current") is False:
        # the facts are of a container's own namespace (the image gate): its sockets are the
        # subject itself, whatever the container is named this time
        return (None, None, None)
    if conts and (not primary or listener.get("forwards_to") or listener.get("kind") == "published"
                  or any(isinstance(p.get("container"), dict) for p in listener.get("processes") or [])):
        cont = conts[0]
        return (cont.get("name") or cont["id"][:12], cont.get("image") or None, None)
    if not primary:
        ns = spaces.by_inode.get(spaces.netns_of(listener)) or {}
        # an unnamed namespace by its inode: valid on this host until it is made anew
        return (None, None, ns.get("name") if isinstance(ns.get("name"), str) and ns.get("name")
                else str(spaces.netns_of(listener)))
    return (None, None, None)


def _state_max(facts, proto, state):
    """Highest count of a state in one host's facts (counts_stats max when sampled)."""
    stats = ((facts.get("counts_stats") or {}).get(proto) or {}).get(state)
    if isinstance(stats, dict) and stats.get("max") is not None:
        return int(stats["max"])
    return int(((facts.get("counts") or {}).get(proto) or {}).get(state) or 0)


def learn(
    facts_by_host,
    name="baseline",
    extends=None,
    headroom=2.0,
    state_floor=100,
    require=True,
):
    """Learn a policy from ``{host: ansible_facts.netstat}``.

    Returns ``{"policy": dict, "notes": {...}, "warnings": [...], "hosts": [...]}``; the notes
    feed the comments of render().
    """
    if not facts_by_host:
        raise BaselineError("no facts to learn from")
    if headroom < 1:
        raise BaselineError("headroom must be at least 1.0, got %s" % headroom)
    hosts = sorted(facts_by_host)
    warnings = []
    entries = {}  # (proto, port, programs) -> accumulated entry
    for host in hosts:
        facts = facts_by_host[host]
        if not isinstance(facts, dict) or not isinstance(facts.get("listeners"), list):
            raise BaselineError(
                "%s: no ansible_facts.netstat listener table; gather facts with netaudit.netstat.netstat_facts first" % host
            )
        collector = facts.get("collector") or {}
        if collector.get("complete") is False:
            reasons = "; ".join(str(r) for r in collector.get("reasons") or []) or "no reason given"
            warnings.append(
                "%s: facts are incomplete (%s); listeners whose owner could not be read are learned "
                "without a program. Gather as root (become: true) for a complete baseline." % (host, reasons)
            )
        spaces = _scope.Spaces(facts)
        listeners = [x for x in facts["listeners"] if isinstance(x, dict)] + _policy._published_only(facts)
        for lst in listeners:
            if lst.get("proto") not in ("tcp", "udp") or not lst.get("port"):
                continue
            key = (lst["proto"], int(lst["port"]), _programs(lst)) + _where(lst, spaces)
            acc = entries.setdefault(
                key,
                {"binds": set(), "users": set(), "hosts": set(), "endpoints": set(), "cmdline": None, "exes": set()},
            )
            acc["binds"].add(_bind_of(lst))
            user = lst.get("user") if lst.get("user") is not None else lst.get("uid")
            if user is not None:
                acc["users"].add(user if isinstance(user, int) else str(user))
            acc["hosts"].add(host)
            acc["endpoints"].add(_endpoint(lst))
            for proc in lst.get("processes") or []:
                if proc.get("exe"):
                    acc["exes"].add(str(proc["exe"]))
                if acc["cmdline"] is None and proc.get("cmdline"):
                    acc["cmdline"] = str(proc["cmdline"])

    allow = []
    notes_allow = []
    for (proto, port, programs, container, image, netns), acc in sorted(
            entries.items(), key=lambda kv: tuple("" if v is None else v for v in kv[0])):
        entry = {"proto": proto, "port": port}
        if container is not None:
            entry["container"] = glob_escape(container)
            if image is not None:
                entry["image"] = glob_escape(image)
        elif netns is not None:
            entry["netns"] = glob_escape(netns)
        binds = sorted(acc["binds"], key=lambda b: (_BIND_ORDER.index(b) if b in _BIND_ORDER else 99, b))
        entry["bind"] = binds[0] if len(binds) == 1 else binds
        if programs:
            entry["program"] = glob_escape(programs[0]) if len(programs) == 1 else [glob_escape(p) for p in programs]
        users = sorted(acc["users"], key=str)
        if users:
            entry["user"] = users[0] if len(users) == 1 else users
        if require and len(acc["hosts"]) == len(hosts):
            entry["required"] = True
        allow.append(entry)
        seen = sorted(acc["hosts"])
        note = "%s %s %s" % (
            proto,
            ", ".join(sorted(acc["endpoints"])),
            ",".join(programs) if programs else (
                "(published by NAT rules, no host socket)" if container is not None else "(owner not resolved)"),
        )
        if container is not None:
            note += " in container %s%s" % (container, " (%s)" % image if image else "")
        elif netns is not None:
            note += " in network namespace %s" % netns
        if len(hosts) > 1:
            note += " - on %d/%d hosts" % (len(seen), len(hosts))
            if len(seen) < len(hosts):
                note += ": " + ", ".join(seen[:5]) + (", ..." if len(seen) > 5 else "")
        notes_allow.append({"summary": note, "exe": sorted(acc["exes"])[:1], "cmdline": acc["cmdline"]})

    states = {}
    notes_states = {}
    for proto, names in LEARNED_STATES.items():
        for state in names:
            observed = max(_state_max(facts_by_host[h], proto, state) for h in hosts)
            limit = max(int(state_floor), int(math.ceil(observed * float(headroom))))
            states.setdefault(proto, {})[state] = {"max": limit}
            notes_states[(proto, state)] = observed

    policy = {
        "policy": str(name),
        "description": "Learned by netaudit.netstat.netstat_baseline from %s; review before use."
        % (hosts[0] if len(hosts) == 1 else "%d hosts" % len(hosts)),
    }
    if extends:
        policy["extends"] = list(extends) if isinstance(extends, (list, tuple)) else str(extends)
    policy["listeners"] = {"default": "deny", "allow": allow}
    policy["states"] = states
    if warnings:
        # The learned hosts themselves had incomplete facts: without this the baseline could not
        # audit them clean. Gathering as root and learning again removes it.
        policy["completeness"] = {"severity": "warning"}
    return {
        "policy": policy,
        "hosts": hosts,
        "warnings": warnings,
        "notes": {"allow": notes_allow, "states": notes_states, "headroom": headroom, "state_floor": state_floor},
    }


def _flow(value):
    """One YAML flow value (safe_dump quotes whatever needs quoting)."""
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 20, allow_unicode=False)
    text = text.strip()
    if text.endswith("\n...") or text.endswith("..."):
        text = text.rsplit("\n", 1)[0].strip()
    return text


def render(learned):
    """The learned policy as commented YAML text."""
    policy = learned["policy"]
    notes = learned["notes"]
    hosts = learned["hosts"]
    out = [
        "# Socket policy learned by netaudit.netstat.netstat_baseline.",
        "# Hosts: " + comment(", ".join(hosts), 300),
        "# Review it before use: every listener below was open when the facts were gathered, wanted",
        "# or not. Remove what should not run, loosen what may vary (ports, users), and commit it.",
        "# Closed world: a listener not allowed below is drift (unexpected-listener).",
    ]
    for warning in learned.get("warnings") or []:
        out.append("# WARNING: " + comment(warning, 300))
    out.append("")
    out.append("policy: " + _flow(policy["policy"]))
    out.append("description: " + _flow(policy["description"]))
    if "extends" in policy:
        out.append("extends: " + _flow(policy["extends"]))
    out.append("")
    out.append("listeners:")
    out.append("  default: deny")
    if not policy["listeners"]["allow"]:
        out.append("  allow: []  # nothing was listening")
    else:
        out.append("  allow:")
        for entry, note in zip(policy["listeners"]["allow"], notes["allow"]):
            out.append("    # " + comment(note["summary"]))
            if note["exe"]:
                out.append("    #   exe: " + comment(note["exe"][0]))
            if note["cmdline"]:
                out.append("    #   cmdline: " + comment(note["cmdline"]))
            out.append("    - " + _flow(entry))
    if "completeness" in policy:
        out.append("")
        out.append("# The learned facts were incomplete (see WARNING above): incomplete facts are a warning, not")
        out.append("# an error, until the baseline is learned again as root. Delete this once it is.")
        out.append("completeness: " + _flow(policy["completeness"]))
    out.append("")
    out.append(
        "# State limits: observed maximum x %s, at least %s (state-threshold findings are warnings)."
        % (notes["headroom"], notes["state_floor"])
    )
    out.append("states:")
    for proto, limits in policy["states"].items():
        out.append("  %s:" % proto)
        for state, limit in limits.items():
            observed = notes["states"].get((proto, state), 0)
            out.append("    %s: %s  # observed max %d" % (state, _flow(limit), observed))
    return "\n".join(out) + "\n"
