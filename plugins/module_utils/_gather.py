# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Assemble ansible_facts.netstat (see docs/facts.md) from a backend and the owner resolver.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
Standard library only: it runs on the managed host (Python 3.8+).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools
import os
import socket
import time

from ansible_collections.netaudit.netstat.plugins.module_utils._common import (
    COMPACT_COLUMNS,
    CONTAINER_SOCKETS,
    RUNTIME_PROGRAMS,
    BackendUnavailable,
    NetstatError,
    compact_row,
    empty_counts,
    exposure,
    is_listener,
    read_port_range,
    lstat_host_path,
)
from ansible_collections.netaudit.netstat.plugins.module_utils._owners import OwnerResolver, owner_pids, user_name
from ansible_collections.netaudit.netstat.plugins.module_utils import _netns
from ansible_collections.netaudit.netstat.plugins.module_utils._cgroup import read_cgroup

# _inspect (why an owner is unknown) and _containers (a runtime's API) are imported where they are
# needed: a plain host needs neither, and a module compiles every file it imports on every run.

BACKENDS = ("auto", "netlink", "procfs", "psutil")
UNIX_MODES = ("none", "listening", "bound", "all")
CONNECTION_MODES = ("none", "counts", "summary", "full", "compact")
OWNER_SCANS = ("until_found", "all")
NAMESPACE_MODES = ("current", "all")
CONTAINER_RUNTIME_MODES = ("auto", "none")
# the processes of a foreign namespace whose cgroups are read to name its containers
MAX_NS_PIDS = 64
# Above this many connection dicts a full list is slow through Ansible: the facts say so.
FULL_LIST_WARN = 20000
# States in which a socket can be a listener, per protocol: TCP LISTEN; UDP unconnected sockets are
# CLOSE in the kernel. Asking for TCP CLOSE too would make the kernel walk every connection of the
# established hash (which never holds a TCP socket in CLOSE) for nothing.
LISTENER_STATES = {"tcp": frozenset(("LISTEN",)), "udp": frozenset(("CLOSED",))}


def namespaces_option(value):
    """The `namespaces` option as Options takes it: current, all, or a list of selectors (a single
    selector given as text, or comma-separated text from the command line, becomes a list)."""
    if value is None:
        return "current"
    if isinstance(value, str):
        text = value.strip()
        if text in NAMESPACE_MODES:
            return text
        return [p.strip() for p in text.split(",") if p.strip()] or text
    if isinstance(value, int) and not isinstance(value, bool):
        return [str(value)]
    return value


class Options:
    """The gather options, validated (the module's argument_spec mirrors these)."""

    def __init__(self, protocols=("tcp", "udp", "unix"), families=("ipv4", "ipv6"),
                 connections="counts", unix="bound", owners=True, services=False,
                 samples=1, interval=1.0, backend="auto", proc_root="/proc", owner_scan="until_found",
                 namespaces="current", container_runtime="auto", container_sockets=CONTAINER_SOCKETS):
        self.protocols = tuple(protocols)
        self.families = tuple(families)
        self.connections = connections
        self.unix = unix
        self.owners = owners
        self.services = services
        self.samples = samples
        self.interval = interval
        self.backend = backend
        self.proc_root = proc_root
        self.owner_scan = owner_scan
        self.namespaces = namespaces
        self.container_runtime = container_runtime
        self.container_sockets = tuple(container_sockets or ())
        self.validate()

    def validate(self):
        for proto in self.protocols:
            if proto not in ("tcp", "udp", "unix"):
                raise NetstatError("protocols: unknown protocol %r (choose from tcp, udp, unix)" % proto)
        for family in self.families:
            if family not in ("ipv4", "ipv6"):
                raise NetstatError("families: unknown family %r (choose from ipv4, ipv6)" % family)
        if self.connections not in CONNECTION_MODES:
            raise NetstatError("connections: %r is not one of %s" % (self.connections, ", ".join(CONNECTION_MODES)))
        if self.unix not in UNIX_MODES:
            raise NetstatError("unix: %r is not one of %s" % (self.unix, ", ".join(UNIX_MODES)))
        if self.backend not in BACKENDS:
            raise NetstatError("backend: %r is not one of %s" % (self.backend, ", ".join(BACKENDS)))
        if self.owner_scan not in OWNER_SCANS:
            raise NetstatError("owner_scan: %r is not one of %s" % (self.owner_scan, ", ".join(OWNER_SCANS)))
        if isinstance(self.namespaces, str):
            if self.namespaces not in NAMESPACE_MODES:
                raise NetstatError(
                    "namespaces: %r is not current, all, or a list of selectors (container:NAME, pid:N, a "
                    "/run/netns name, a netns inode)" % self.namespaces)
        elif isinstance(self.namespaces, (list, tuple)):
            if not self.namespaces:
                raise NetstatError("namespaces: the list of selectors is empty (use current for this namespace)")
            for sel in self.namespaces:
                if not isinstance(sel, (str, int)) or isinstance(sel, bool) or str(sel).strip() == "":
                    raise NetstatError("namespaces: selector %r is not text (container:NAME, pid:N, a /run/netns "
                                       "name, a netns inode)" % (sel,))
        else:
            raise NetstatError("namespaces: %r is not current, all, or a list of selectors" % (self.namespaces,))
        if self.container_runtime not in CONTAINER_RUNTIME_MODES:
            raise NetstatError("container_runtime: %r is not one of %s" % (
                self.container_runtime, ", ".join(CONTAINER_RUNTIME_MODES)))
        if int(self.samples) < 1:
            raise NetstatError("samples must be 1 or more, got %r" % (self.samples,))
        if float(self.interval) < 0:
            raise NetstatError("interval must not be negative, got %r" % (self.interval,))


# The options of netaudit.netstat.netstat_facts, as an AnsibleModule argument_spec; every front end
# (the Ansible module, the Salt execution module) validates its arguments against this one spec.
ARGUMENT_SPEC = dict(
    protocols=dict(type="list", elements="str", choices=["tcp", "udp", "unix"], default=["tcp", "udp", "unix"]),
    families=dict(type="list", elements="str", choices=["ipv4", "ipv6"], default=["ipv4", "ipv6"]),
    connections=dict(type="str", choices=["none", "counts", "summary", "full", "compact"], default="counts"),
    unix=dict(type="str", choices=["none", "listening", "bound", "all"], default="bound"),
    owners=dict(type="bool", default=True),
    owner_scan=dict(type="str", choices=["until_found", "all"], default="until_found"),
    services=dict(type="bool", default=False),
    samples=dict(type="int", default=1),
    interval=dict(type="float", default=1.0),
    backend=dict(type="str", choices=["auto", "netlink", "procfs", "psutil"], default="auto"),
    proc_root=dict(type="path", default="/proc"),
    namespaces=dict(type="raw", default="current"),
    container_runtime=dict(type="str", choices=["auto", "none"], default="auto"),
    container_sockets=dict(type="list", elements="path", default=list(CONTAINER_SOCKETS)),
)


def options_from(params):
    """Options from validated parameters (ARGUMENT_SPEC's names; the namespaces option as given)."""
    kwargs = dict((name, params[name]) for name in ARGUMENT_SPEC if name in params)
    if "namespaces" in kwargs:
        kwargs["namespaces"] = namespaces_option(kwargs["namespaces"])
    return Options(**kwargs)


def _make_backend(name, options):
    if name == "procfs":
        from ansible_collections.netaudit.netstat.plugins.module_utils._procfs import ProcfsBackend

        return ProcfsBackend(options.proc_root)
    if name == "netlink":
        if options.proc_root != "/proc":
            raise BackendUnavailable("netlink reads the kernel, not a procfs tree (proc_root is %s)" % options.proc_root)
        try:
            from ansible_collections.netaudit.netstat.plugins.module_utils._netlink import NetlinkBackend
        except ImportError as exc:
            raise BackendUnavailable("netlink backend not available: %s" % exc)
        return NetlinkBackend()
    if name == "psutil":
        from ansible_collections.netaudit.netstat.plugins.module_utils._psutil import PsutilBackend

        return PsutilBackend()
    raise NetstatError("unknown backend %r" % name)


def select_backend(options):
    """Return (backend, tried) where tried lists [{name, reason}] of backends skipped by auto.

    A backend named explicitly must run: its BackendUnavailable propagates.
    """
    if options.backend != "auto":
        backend = _make_backend(options.backend, options)
        backend.check()
        return backend, []
    tried = []
    for name in ("netlink", "procfs", "psutil"):
        try:
            backend = _make_backend(name, options)
            backend.check()
        except BackendUnavailable as exc:
            tried.append({"name": name, "reason": str(exc)})
            continue
        return backend, tried
    raise BackendUnavailable(
        "no backend can run on this host: "
        + "; ".join("%s: %s" % (t["name"], t["reason"]) for t in tried)
    )


class _Sample:
    __slots__ = ("counts", "listeners", "connections", "unix", "rows", "unowned", "row_owners")

    def __init__(self, counts):
        self.counts = counts
        self.listeners = []
        self.connections = []
        self.unix = []
        self.rows = None  # compact mode: the row strings
        self.unowned = 0  # compact mode: rows with an inode and no known owner
        self.row_owners = {}  # compact mode: the owners (pid or tuple of pids) the rows name (netlink: -> their text)


def _unconnected(sock):
    return not sock.remote_port and sock.local_port and sock.state != "ESTABLISHED"


def _scan(backend, options, port_range, owners=None, final=True, published=None):
    """One pass over the socket tables: counts of everything, records of what is reported.

    In compact mode the connections become row strings as they are read (no record is kept per
    socket); `owners` (inode -> pid or pids) is then the map from a full owner walk, or None.
    A sample that is not the `final` one only counts (its lists would be dropped).
    `published` holds (proto, port) of the ports a container runtime publishes: a UDP socket on one
    of them is a listener even in the ephemeral range.
    """
    inet_protocols = tuple(p for p in options.protocols if p in ("tcp", "udp"))
    counts = empty_counts(options.protocols)
    sample = _Sample(counts)
    mode = options.connections if final else "counts"
    compact = mode == "compact"
    keep_connections = mode in ("summary", "full", "compact")
    if compact:
        sample.rows = []
    if inet_protocols and compact and hasattr(backend, "inet_rows"):
        # The speed path: the backend writes the rows itself and hands back only possible listeners.
        candidates = []
        fast, sample.unowned = backend.inet_rows(inet_protocols, options.families, owners or {}, sample.rows, candidates,
                                                 sample.row_owners)
        for proto in inet_protocols:
            counts[proto].update(fast.get(proto, {}))
        for sock in candidates:
            if is_listener(sock, port_range) or (published and (sock.proto, sock.local_port) in published and _unconnected(sock)):
                sample.listeners.append(sock)
            else:
                sample.rows.append(_compact(sock, owners, sample))
    elif inet_protocols:
        if keep_connections:
            keep = None
        else:
            keep = LISTENER_STATES
        if keep is not None and hasattr(backend, "state_counts") and set(options.families) == set(("ipv4", "ipv6")):
            # The backend counts cheaply and filters in the kernel.
            fast = backend.state_counts(inet_protocols)
            for proto in inet_protocols:
                counts[proto].update(fast.get(proto, {}))
            records = itertools.chain.from_iterable(
                backend.inet_sockets((proto,), options.families, keep.get(proto)) for proto in inet_protocols)
            tally = None
        else:
            records = backend.inet_sockets(inet_protocols, options.families, None)
            tally = counts
        listeners = sample.listeners
        connections = sample.rows if compact else sample.connections
        for sock in records:
            if tally is not None:
                tally[sock.proto][sock.state] += 1
            # inline for TCP (the bulk of a busy host); UDP needs the full rule
            if (sock.state == "LISTEN") if sock.proto == "tcp" else (
                    is_listener(sock, port_range) or (published and (sock.proto, sock.local_port) in published
                                                      and _unconnected(sock))):
                listeners.append(sock)
            elif compact:
                connections.append(_compact(sock, owners, sample))
            elif keep_connections:
                connections.append(sock)
    if "unix" in options.protocols:
        ucounts = counts["unix"]
        mode = options.unix
        for usock in backend.unix_sockets():
            ucounts[usock.state] = ucounts.get(usock.state, 0) + 1
            if mode == "all" or (mode == "bound" and usock.path) or (mode == "listening" and usock.state == "LISTENING"):
                sample.unix.append(usock)
    return sample


def _compact(sock, owners, sample):
    """A compact row for one record: owners from the record (psutil) or from the owner map."""
    pids = sock.pids
    if not pids and owners is not None and sock.inode:
        pids = owner_pids(owners.get(sock.inode))
        if not pids:
            sample.unowned += 1
    if pids:
        sample.row_owners[tuple(pids)] = None
    return compact_row(sock, pids)


def _service_name(port, proto, cache):
    key = (port, proto)
    if key not in cache:
        try:
            cache[key] = socket.getservbyport(port, proto)
        except (OSError, socket.error, OverflowError):
            cache[key] = None
    return cache[key]


def _file_facts(path, root=None):
    """mode, owner and the original name (hex, when not UTF-8) of a UNIX socket's file, or
    (None, None, None) when it is not on disk. The file is looked up by its real bytes
    (lstat_host_path), so that a socket whose name is not UTF-8 keeps its mode (a
    world-writable one is still found)."""
    st, raw = lstat_host_path(path, root)
    if st is None:
        return None, None, None
    return "0%o" % (st.st_mode & 0o7777), st.st_uid, raw.hex() if raw is not None else None


def _netns_link(proc_root):
    try:
        return os.readlink(os.path.join(proc_root, "self", "ns", "net"))
    except OSError:
        return None


class _Space(object):
    """One namespace to read: the Namespace, whether it is the module's own, how it was read."""

    __slots__ = ("ns", "current", "primary", "selector", "read_via", "reason", "sample")

    def __init__(self, ns, current, selector=None):
        self.ns = ns
        self.current = current
        self.primary = False
        self.selector = selector
        self.read_via = None
        self.reason = None
        self.sample = None


class _NsContainers(object):
    """The containers whose processes are in a foreign namespace, from their cgroups: read once
    per namespace, whether a `container:` selector or the naming of the namespaces asks first.
    The module's own namespace is never read: a `--network host` container's process there does
    not make the host's namespace that container's."""

    def __init__(self, proc_root):
        self.proc_root = proc_root
        self._ids = {}

    def ids(self, ns):
        """[(container id, runtime kind)] of the namespace, in the order of its pids."""
        got = self._ids.get(ns.inode)
        if got is None:
            got = self._ids[ns.inode] = []
            for pid in ns.pids[:MAX_NS_PIDS]:
                cg = read_cgroup(self.proc_root, pid)
                if cg and cg["container"] and all(cid != cg["container"]["id"] for cid, _kind in got):
                    got.append((cg["container"]["id"], cg["container"]["runtime"]))
        return got


def _plan(options, current_inode, runtime_of, ns_containers):
    """[_Space] to read, the primary first, and [reason] for selectors that name nothing."""
    proc_root = options.proc_root
    if options.namespaces == "current":
        ns = _netns.Namespace(current_inode)
        space = _Space(ns, True)
        space.primary = True
        return [space], [], None
    found = _netns.discover(proc_root)
    if current_inode is not None and current_inode not in found:
        found[current_inode] = _netns.Namespace(current_inode)
    spaces = []
    missing = []
    seen = set()

    def add(ns, selector):
        if ns.inode in seen:
            return
        seen.add(ns.inode)
        spaces.append(_Space(ns, ns.inode == current_inode, selector))

    if options.namespaces == "all":
        add(found[current_inode], "current")
        for inode in sorted(found):
            add(found[inode], "all")
    else:
        for sel in options.namespaces:
            text = str(sel).strip()
            ns = None
            if text in ("current", "self"):
                ns = found.get(current_inode)
            elif text == "host":
                ns = found.get(_netns.netns_inode(proc_root, 1))
            elif text.startswith("pid:"):
                pid = text[4:]
                inode = _netns.netns_inode(proc_root, pid) if pid.isdigit() else None
                ns = found.get(inode) if inode is not None else None
                if ns is None:
                    missing.append("namespaces: %s: no such process (or its namespace cannot be read)" % text)
                    continue
            elif text.startswith("container:"):
                name = text[len("container:"):]
                runtime = runtime_of()
                ids = runtime.find(name) if runtime is not None else []
                owners = {}
                for inode, other in found.items():
                    if inode != current_inode:
                        for cid, _kind in ns_containers.ids(other):
                            owners.setdefault(cid, inode)
                hits = sorted({owners[cid] for cid in ids if cid in owners})
                if not ids:
                    # no runtime, or it does not know the name: an id (prefix) from the cgroups
                    hits = sorted({inode for cid, inode in owners.items() if len(name) >= 4 and cid.startswith(name)})
                if not hits:
                    if runtime is not None and runtime.errors:
                        why = "; ".join(runtime.errors)
                    elif runtime is None or not runtime.read:
                        why = "no runtime API answered"
                    else:
                        why = "no running container has that name or id"
                    missing.append("namespaces: %s: not found (%s)" % (text, why))
                    continue
                for inode in hits:
                    add(found[inode], text)
                continue
            elif text.isdigit():
                ns = found.get(int(text))
            else:
                named = [n for n in found.values() if text in n.names]
                ns = named[0] if named else None
            if ns is None:
                missing.append("namespaces: %s: no network namespace of that name, inode or process" % text)
                continue
            add(ns, text)
    if spaces:
        spaces[0].primary = True
    return spaces, missing, found


def _foreign_scan(space, backend_name, options, port_range, walked, final):
    """_scan() of a namespace that is not the module's own: in a thread that entered it
    (netlink, or its /proc/thread-self/net tables), else through /proc/PID/net of a process in it."""
    from ansible_collections.netaudit.netstat.plugins.module_utils._procfs import ProcfsBackend

    ns = space.ns
    path = ns.open_path(options.proc_root)
    if path is None:
        raise NetstatError("no process and no file pins it")
    entered = None
    if options.proc_root == "/proc":
        def read(thread_proc):
            if backend_name in ("auto", "netlink"):
                from ansible_collections.netaudit.netstat.plugins.module_utils._netlink import NetlinkBackend

                backend = NetlinkBackend()
                try:
                    backend.check()
                    return "netlink (setns)", _scan(backend, options, port_range, walked, final)
                except BackendUnavailable:
                    pass
            return "procfs (setns)", _scan(ProcfsBackend(thread_proc), options, port_range, walked, final)

        try:
            via, sample = _netns.run_in(path, read, options.proc_root)
            return via, sample
        except OSError as exc:
            entered = "setns: %s" % (exc.strerror or exc)
    if ns.pid is None:
        raise NetstatError("cannot be entered (%s) and has no process whose /proc/PID/net could be read" % entered)
    proc = "%s/%d" % (options.proc_root, ns.pid)
    backend = ProcfsBackend(proc)
    try:
        backend.check()
    except BackendUnavailable as exc:
        raise NetstatError("%s%s" % (exc, "; %s" % entered if entered else ""))
    return "procfs (%s/net)" % proc, _scan(backend, options, port_range, walked, final)


def _published(runtime, listeners, current_inode):
    """Every port binding the runtime reports, with the host socket that holds it (docker-proxy,
    dockerd) or none (NAT rules only); the listeners held by docker-proxy name their container."""
    from ansible_collections.netaudit.netstat.plugins.module_utils import _containers

    by_target = {}
    for lst in listeners:
        if lst.get("netns") != current_inode:
            continue
        for proc in lst["processes"]:
            target = _containers.proxy_target((proc.get("cmdline") or "").split())
            if target is None:
                continue
            proto, caddr, cport, haddr, hport = target
            cid = runtime.by_address.get(caddr)
            lst["forwards_to"] = {
                "proto": proto, "address": caddr, "port": cport,
                "container": runtime.describe(cid) if cid else None,
            }
            if cid:
                lst["container"] = lst["forwards_to"]["container"]
            by_target[(proto, hport, cid)] = lst
            break
    out = []
    for cid in sorted(runtime.ports):
        info = runtime.describe(cid)
        for b in runtime.ports[cid]:
            if b["host_port"] is None:
                continue  # exposed, not published
            address = b["host_address"] or "0.0.0.0"
            family = "ipv6" if ":" in address else "ipv4"
            holder = by_target.get((b["proto"], b["host_port"], cid))
            if holder is None:
                for lst in listeners:
                    if (lst.get("netns") == current_inode and lst["proto"] == b["proto"] and lst["port"] == b["host_port"]
                            and lst["family"] == family and lst["address"] in (address, "0.0.0.0", "::")):
                        holder = lst
                        break
            if holder is not None and holder.get("container") is None:
                holder["container"] = info
            out.append({
                "proto": b["proto"],
                "family": family,
                "address": address,
                "port": b["host_port"],
                "exposure": exposure(address),
                "container_port": b["container_port"],
                "container": info,
                "socket": holder is not None,
                "held_by": [p.get("name") for p in holder["processes"]] if holder is not None else [],
            })
    out.sort(key=lambda e: (e["proto"], e["family"], e["port"], e["address"], e["container"]["id"]))
    return out


# activators that hold a listener for a service started on the first connection
ACTIVATORS = ("systemd", "systemd-socket-activate", "inetd", "xinetd")


def _environ_has(proc_root, pid, names):
    try:
        with open("%s/%d/environ" % (proc_root, pid), "rb") as f:
            data = f.read()
    except (OSError, IOError):
        return None
    out = {}
    for item in data.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep and key.decode("ascii", "replace") in names:
            out[key.decode("ascii", "replace")] = value.decode("ascii", "replace")
    return out


def _activation(listeners, proc_root):
    """`activation` of listeners held by a socket activator (and what it will start), or handed
    to a service through LISTEN_FDS (and by which activator)."""
    environ = {}
    for lst in listeners:
        for proc in lst["processes"]:
            # comm is cut at 15 characters (systemd-socket-): the executable's name is the whole one
            name = os.path.basename(proc.get("exe") or "") or proc.get("name") or ""
            if not any(name == a or (proc.get("name") or "") == a[:15] for a in ACTIVATORS):
                name = None
            else:
                name = [a for a in ACTIVATORS if name == a or (proc.get("name") or "") == a[:15]][0]
            if name is not None:
                cmd = (proc.get("cmdline") or "").split()
                serves = None
                if name == "systemd-socket-activate":
                    args = cmd[1:]
                    rest = []
                    skip = False
                    for a in args:
                        if skip:
                            skip = False
                            continue
                        if a in ("-l", "--listen", "-E", "--setenv", "--fdname"):
                            skip = True
                            continue
                        if a.startswith("-") and not rest:
                            continue
                        rest.append(a)
                    serves = " ".join(rest) or None
                lst["activation"] = {"activator": name, "pid": proc.get("pid"), "serves": serves,
                                     "unit": proc.get("unit") if name != "systemd" else None, "state": "waiting"}
                break
            pid = proc.get("pid") or 0
            if pid not in environ:
                environ[pid] = _environ_has(proc_root, pid, ("LISTEN_FDS", "LISTEN_PID"))
            env = environ[pid]
            if env and env.get("LISTEN_FDS") and env.get("LISTEN_PID") == str(proc.get("pid")):
                lst["activation"] = {"activator": "LISTEN_FDS", "pid": proc.get("pid"), "serves": proc.get("cmdline"),
                                     "unit": proc.get("unit"), "state": "serving"}
                break


def gather(options):
    """Gather the facts; returns the dict that goes under ansible_facts.netstat."""
    started = time.time()
    backend, tried = select_backend(options)
    port_range = read_port_range(options.proc_root)
    provides_pids = getattr(backend, "provides_pids", False)
    listed = options.connections in ("full", "compact")
    resolver = None
    walked = None
    if options.owners and options.connections == "compact" and not provides_pids:
        # Every socket is listed with its owners: one full walk first, so that the dump can turn
        # each socket into its row at once instead of keeping 200k records for a later lookup.
        resolver = OwnerResolver(options.proc_root)
    current_inode = _netns.netns_inode(options.proc_root)
    runtime_box = []

    def runtime_of():
        if options.container_runtime == "none":
            return None
        if not runtime_box:
            from ansible_collections.netaudit.netstat.plugins.module_utils import _containers

            runtime_box.append(_containers.Runtime(options.container_sockets).load())
        return runtime_box[0]

    if options.namespaces != "current" and current_inode is None:
        raise NetstatError("namespaces: %s needs %s/self/ns/net, which cannot be read here" % (
            options.namespaces, options.proc_root))
    ns_container_ids = _NsContainers(options.proc_root)
    spaces, missing, found = _plan(options, current_inode, runtime_of, ns_container_ids)
    # On a host that runs containers, the ports they publish are known before the sockets are read:
    # a UDP port published in the ephemeral range is still a listener.
    published_ports = None
    if options.container_runtime != "none" and any(os.path.exists(p) for p in options.container_sockets):
        published_ports = frozenset((b["proto"], b["host_port"]) for ports in runtime_of().ports.values() for b in ports
                                    if b["host_port"] is not None)

    def read_space(space, final):
        if space.current:
            space.read_via = backend.name
            return _scan(backend, options, port_range, walked, final, published_ports)
        try:
            space.read_via, sample = _foreign_scan(space, options.backend, options, port_range, walked, final)
            return sample
        except (NetstatError, OSError) as exc:
            space.reason = "network namespace %d%s could not be read: %s" % (
                space.ns.inode, " (%s)" % space.ns.name() if space.ns.name() else "", getattr(exc, "strerror", None) or exc)
            return _Sample(empty_counts(options.protocols))

    samples = []
    for i in range(int(options.samples)):
        if i:
            time.sleep(float(options.interval))
        final = i == int(options.samples) - 1
        if resolver is not None and final:
            walked = resolver.resolve(None)
        if spaces:
            samples.append(read_space(spaces[0], final))
        else:
            samples.append(_Sample(empty_counts(options.protocols)))
    if spaces:
        spaces[0].sample = samples[-1]
    for space in spaces[1:]:
        space.sample = read_space(space, True)  # the other namespaces: one sample (the final one)
    last = samples[-1]
    multi = len(spaces) > 1 or (bool(spaces) and not spaces[0].current)
    tagged = [(sp.ns.inode, sp.sample) for sp in spaces]
    all_listeners = [(inode, sock) for inode, smp in tagged for sock in smp.listeners]
    all_unix = [(inode, usock) for inode, smp in tagged for usock in smp.unix]
    all_conns = [(inode, sock) for inode, smp in tagged for sock in smp.connections]
    if last.rows is not None and multi:
        rows = []
        for inode, smp in tagged:
            suffix = " %d" % inode
            rows.extend(row + suffix for row in smp.rows or [])
            if smp is not last:  # the primary's own are already in `last`
                last.row_owners.update(smp.row_owners)
                last.unowned += smp.unowned
        last.rows = rows

    warnings = []
    reasons = []
    reason_codes = []  # one code per reason: owners-unresolved (carried by the sockets), malformed-lines, namespace-unreadable
    for why in missing + [sp.reason for sp in spaces if sp.reason]:
        reasons.append(why)
        if "namespace-unreadable" not in reason_codes:
            reason_codes.append("namespace-unreadable")
    uninspected = []
    hidden = None
    inspector = None
    inspect_mod = None  # module_utils._inspect, once something could not be inspected
    owners_unresolved = False  # some listed socket's owner could not be read (reason owners-unresolved)
    is_root = os.geteuid() == 0
    joined = getattr(backend, "unix_joined", None) or []
    if joined:
        warnings.append(
            "%d line(s) of /proc/net/unix were part of a socket name that holds a newline (the longer name is a "
            "socket on the file system); the netlink backend reads names unambiguously" % len(joined)
        )
    errors = getattr(backend, "errors", None) or []
    if errors:
        reasons.append("%d malformed line(s) in the kernel tables were skipped" % len(errors))
        reason_codes.append("malformed-lines")
        warnings.extend(errors[:20])

    # Owners: pids from the backend (psutil) or one walk of /proc/PID/fd.
    pid_map = {}
    processes = {}
    if options.owners:
        wanted = set()
        for _inode, sock in all_listeners:
            if sock.inode:
                wanted.add(sock.inode)
        if options.connections == "full":
            for _inode, sock in all_conns:
                if sock.inode:
                    wanted.add(sock.inode)
        for _inode, usock in all_unix:
            if usock.inode:
                wanted.add(usock.inode)
        if provides_pids:
            pid_map = backend.pid_map()
            info = backend.process
        elif walked is not None:
            pid_map = walked
            info = resolver.process
        else:
            resolver = OwnerResolver(options.proc_root)
            # A full list wants nearly every socket: read everything (in parallel) rather than
            # stopping early.
            until_found = options.owner_scan == "until_found" and not listed
            pid_map = resolver.resolve(wanted, until_found=until_found) if wanted else {}
            info = resolver.process
        # The owners of what is listed (a full walk maps every socket of the host).
        pids = set()
        for value in list(last.row_owners) + [pid_map.get(inode) for inode in wanted]:
            if isinstance(value, int):
                pids.add(value)
            elif value:
                pids.update(value)
        for pid in sorted(pids):
            processes[str(pid)] = info(pid)
        unreadable = getattr(resolver or backend, "unreadable", 0)
        unresolved = [inode for inode in wanted if inode and not pid_map.get(inode)]
        unowned = len(unresolved) + last.unowned
        # hidepid hides other users' processes from a gatherer that is not root; only then, or
        # when a process could not be read, is there anything to classify
        if unreadable or (unowned and not is_root):
            from ansible_collections.netaudit.netstat.plugins.module_utils import _inspect as inspect_mod
        hidden = inspect_mod.hidepid_option(options.proc_root) if unowned and not is_root else None
        if unreadable or hidden:
            inspector = inspect_mod.Inspector(options.proc_root)
        if unreadable:
            uninspected = inspector.describe(getattr(resolver or backend, "unreadable_pids", None) or set())
        # A process that vanished mid-walk took its sockets with it (or left them to a child that
        # was read): only processes that could not be read, or hidepid, leave owners unknown.
        if unowned and (unreadable or hidden):
            labels = {}
            for _inode, sock in all_listeners:
                labels[sock.inode] = "%s %s:%d" % (sock.proto, sock.local_address, sock.local_port)
            named = sorted(labels[i] for i in unresolved if i in labels)
            causes = sorted({p["cause"] for p in uninspected}, key=inspect_mod.CAUSES.index) or (["hidepid"] if hidden else [])
            reasons.append(
                "%d socket(s) have no known owner%s: %d process(es) could not be inspected (%s; running as "
                "uid %d)" % (
                    unowned,
                    " (%s%s)" % (", ".join(named[:5]), ", ..." if len(named) > 5 else "") if named else "",
                    len([p for p in uninspected if p["cause"] != "vanished"]),
                    ", ".join("%s: %s" % (c, inspect_mod.DESCRIPTION[c]) for c in causes) or "unknown",
                    os.geteuid())
            )
            reason_codes.append("owners-unresolved")
            owners_unresolved = True
        elif unreadable:
            warnings.append(
                "%d process(es) could not be inspected; every listed socket has an owner, but those "
                "processes may share some of them" % unreadable
            )

    def unresolved_of(sock_uid, inode, proto=None, family=None):
        """None, or why the socket `inode` has no owner (see _inspect.unresolved_owner)."""
        if not owners_unresolved or not inode or pid_map.get(inode):
            return None

        def in_netns(pids):
            return inspector.same_netns(pids, proto, family, inode)

        return inspect_mod.unresolved_owner(sock_uid, uninspected, hidden, in_netns if proto else None)

    def procs(inode):
        return [processes[str(pid)] for pid in owner_pids(pid_map.get(inode))] if options.owners else []

    # Containers as the runtime names them: only when a container is involved (an owner in one,
    # or namespaces beyond this one), so that a plain host pays nothing.
    runtime = None
    if options.container_runtime != "none" and (
            multi or any(isinstance(p.get("container"), dict) or p.get("name") in RUNTIME_PROGRAMS
                         for p in processes.values())):
        runtime = runtime_of()
    if runtime is not None:
        for proc in processes.values():
            cont = proc.get("container")
            if isinstance(cont, dict) and cont.get("id"):
                proc["container"] = runtime.describe(cont["id"], cont.get("runtime"))
        if runtime.errors:
            warnings.extend("container runtime: %s" % e for e in runtime.errors)
    for sp in spaces:
        if not sp.current:
            sp.ns.containers = [runtime.describe(cid, kind) if runtime is not None else {"id": cid, "runtime": kind}
                                for cid, kind in ns_container_ids.ids(sp.ns)]
    ns_containers = dict((sp.ns.inode, sp.ns.containers) for sp in spaces)

    def container_of(netns, processes_):
        """The container of a socket: its owner's, else the one whose namespace holds it."""
        for proc in processes_:
            if isinstance(proc.get("container"), dict):
                return proc["container"]
        conts = ns_containers.get(netns) or []
        return conts[0] if len(conts) == 1 else None

    service_cache = {}
    listeners = []

    def listener_order(pair):
        return (pair[1].proto, pair[1].family, pair[1].local_port, pair[1].local_address, pair[0] or 0, pair[1].inode or 0)

    for netns, sock in sorted(all_listeners, key=listener_order):
        entry = {
            "proto": sock.proto,
            "family": sock.family,
            "address": sock.local_address,
            "port": sock.local_port,
            "state": sock.state,
            "recv_q": sock.recv_q,
            "send_q": sock.send_q,
            "backlog": sock.backlog,
            "inode": sock.inode,
            "uid": sock.uid,
            "user": user_name(sock.uid),
            "exposure": exposure(sock.local_address),
            "v6only": sock.v6only if sock.family == "ipv6" else None,
            "interface": sock.interface,
            "service": _service_name(sock.local_port, sock.proto, service_cache) if options.services else None,
            "processes": procs(sock.inode),
            "owner_unresolved": unresolved_of(sock.uid, sock.inode, sock.proto, sock.family),
            "netns": netns,
        }
        entry["container"] = container_of(netns, entry["processes"])
        listeners.append(entry)

    facts = {
        "collector": None,
        "listeners": listeners,
        "counts": last.counts,
    }

    mode = options.connections
    conns = all_conns
    if mode in ("full", "summary"):
        conns = sorted(
            conns,
            key=lambda p: (p[1].proto, p[1].family, p[1].local_address, p[1].local_port, p[1].remote_address,
                           p[1].remote_port, p[0] or 0, p[1].inode or 0),
        )
    if mode == "full" and len(conns) > FULL_LIST_WARN:
        warnings.append(
            "connections=full returned %d dicts: through Ansible that costs about 0.5 ms each (a minute per "
            "100k on the controller); connections=compact gives the same data as one text block" % len(conns)
        )
    if mode == "full":
        facts["connections"] = [
            {
                "proto": s.proto,
                "family": s.family,
                "state": s.state,
                "local_address": s.local_address,
                "local_port": s.local_port,
                "remote_address": s.remote_address,
                "remote_port": s.remote_port,
                "recv_q": s.recv_q,
                "send_q": s.send_q,
                "inode": s.inode,
                "uid": s.uid,
                "user": user_name(s.uid),
                "processes": procs(s.inode),
                "owner_unresolved": unresolved_of(s.uid, s.inode),
                "netns": netns,
            }
            for netns, s in conns
        ]
    elif mode == "compact":
        # One text block, a line per socket, sorted as text (deterministic, and far cheaper than a
        # tuple key at 100k rows). A single string costs Ansible one object, not one per socket.
        rows = last.rows
        rows.sort()
        facts["connections"] = {
            "columns": list(COMPACT_COLUMNS) + (["netns"] if multi else []),
            "count": len(rows),
            "rows": "\n".join(rows),
        }
        del rows
        last.rows = None  # the text block is all that is kept
    elif mode == "summary":
        listen_ports = set((s.proto, s.local_port) for _inode, s in all_listeners)
        groups = {}
        for _inode, s in conns:
            port = s.local_port if (s.proto, s.local_port) in listen_ports else None
            key = (s.proto, s.family, s.state, port, s.remote_address)
            groups[key] = groups.get(key, 0) + 1
        facts["connections"] = [
            {"proto": k[0], "family": k[1], "state": k[2], "local_port": k[3], "remote_address": k[4], "count": n}
            for k, n in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2], kv[0][3] or 0, kv[0][4]))
        ]

    if "unix" in options.protocols and options.unix != "none":
        unix = []
        roots = {sp.ns.inode: "%s/%d/root" % (options.proc_root, sp.ns.pid) for sp in spaces if not sp.current and sp.ns.pid}
        for netns, u in sorted(all_unix, key=lambda p: (p[1].path or "", p[0] or 0, p[1].inode)):
            mode_bits, file_uid, path_hex = (None, None, None)
            if u.path and not u.abstract and (netns == current_inode or netns in roots):
                # a socket of another namespace is a file of its processes' root (their mount namespace)
                mode_bits, file_uid, path_hex = _file_facts(u.path, roots.get(netns))
            entry = {
                "type": u.type,
                "state": u.state,
                "flags": list(u.flags),
                "refcnt": u.refcnt,
                "inode": u.inode,
                "path": u.path,
                "abstract": u.abstract,
                "peer": u.peer,
                "recv_q": u.recv_q,
                "send_q": u.send_q,
                "mode": mode_bits,
                "file_uid": file_uid,
                "processes": procs(u.inode),
                "owner_unresolved": unresolved_of(file_uid, u.inode) if u.path else None,
                "netns": netns,
            }
            entry["container"] = container_of(netns, entry["processes"])
            if path_hex is not None:
                entry["path_hex"] = path_hex
            unix.append(entry)
        facts["unix"] = unix

    if options.owners and mode == "compact":
        # the rows name owners by pid; every other form carries the process dicts in its entries
        facts["processes"] = processes

    if len(samples) > 1:
        stats = {}
        for proto, states in last.counts.items():
            stats[proto] = {}
            for state in states:
                values = [s.counts[proto].get(state, 0) for s in samples]
                stats[proto][state] = {"min": min(values), "max": max(values), "last": values[-1]}
        facts["counts_stats"] = stats

    published = _published(runtime, listeners, current_inode) if runtime is not None else []
    if runtime is not None:
        facts["published"] = published
    _activation(listeners, options.proc_root)
    host_inode = _netns.netns_inode(options.proc_root, 1)
    facts["namespaces"] = [
        {
            "inode": sp.ns.inode,
            "name": sp.ns.name(),
            "names": list(sp.ns.names) + list(sp.ns.runtime_names),
            "primary": sp.primary,
            "current": sp.current,
            "host": sp.ns.inode == host_inode if host_inode is not None else sp.current,
            "selector": sp.selector,
            "pid": sp.ns.pid if not sp.current else os.getpid(),
            "processes": len(sp.ns.pids) if not sp.current or multi else None,
            "containers": [dict((k, v) for k, v in c.items() if k != "network_mode") for c in sp.ns.containers],
            "read_via": sp.read_via,
            "complete": sp.reason is None,
            "reason": sp.reason,
            "counts": sp.sample.counts if sp.sample is not None else empty_counts(options.protocols),
            "listeners": len(sp.sample.listeners) if sp.sample is not None else 0,
        }
        for sp in spaces
    ]
    facts["collector"] = {
        "backend": backend.name,
        "backends_tried": tried,
        "complete": not reasons,
        "reasons": reasons,
        "reason_codes": reason_codes,
        "uninspected": uninspected[:inspect_mod.MAX_DESCRIBED] if uninspected else [],
        "uninspected_count": len(uninspected),
        "warnings": warnings,
        "duration": round(time.time() - started, 6),
        # when the facts were gathered (UTC): a re-audit from a fact cache says how old they are
        "gathered_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "samples": int(options.samples),
        "interval": float(options.interval),
        "netns": _netns_link(options.proc_root),
        "netns_inode": current_inode,
        "primary_netns": spaces[0].ns.inode if spaces else None,
        "namespaces": options.namespaces if isinstance(options.namespaces, str) else [str(n) for n in options.namespaces],
        "namespaces_read": len([sp for sp in spaces if sp.reason is None]),
        "container_runtime": None if runtime is None else {
            "sockets": list(runtime.read), "errors": list(runtime.errors), "containers": len(runtime.by_id)},
        "is_root": is_root,
        "owners": bool(options.owners),
        "connections": options.connections,
        "unix": options.unix,
        "protocols": list(options.protocols),
        "owner_scan": options.owner_scan,
        "processes_scanned": getattr(resolver, "scanned", len(processes)),
        "processes_skipped": getattr(resolver, "skipped", 0),
        "processes_unreadable": getattr(resolver or backend, "unreadable", 0),
        "processes_vanished": getattr(resolver, "vanished", 0),
        # how UNIX socket names were read: netlink gives each as a counted attribute; the procfs
        # text table cannot tell a name holding a newline from a separate socket (checked
        # against the file system where the name is a file)
        "unix_names": None if "unix" not in options.protocols or options.unix == "none" else (
            "unambiguous" if backend.name == "netlink" else "%s text" % backend.name),
    }
    return facts
