# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Network namespaces: find them, pick them by selector, and read a foreign one.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
Standard library only: it runs on the managed host (Python 3.8+).

A network namespace is known by the inode of its nsfs file. It is found two ways:

- through the processes in it: ``/proc/PID/ns/net`` is a link ``net:[INODE]``;
- through the files that pin it without a process: ``ip netns add NAME`` bind-mounts it on
  ``/run/netns/NAME``, Docker on ``/run/docker/netns/SANDBOX``, podman and CNI on
  ``/run/netns/cni-…`` or ``/run/user/UID/netns/…``; every such mount is an ``nsfs`` line of
  ``/proc/self/mountinfo``, whatever the runtime.

A foreign namespace is read in a thread of its own that enters it with setns(2) (a network
namespace may be entered by one thread of a threaded process) and never runs anything else: the
sockets it opens (netlink) and the tables it reads (``/proc/thread-self/net``) are the
namespace's, and the module itself never leaves its own. Without the right to enter
(CAP_SYS_ADMIN), a namespace that has a process is read through ``/proc/PID/net``; one that has
none cannot be read, and the facts say so.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import threading

CLONE_NEWNET = 0x40000000
_NS_LINK = re.compile(r"^net:\[(\d+)\]$")
# the runtimes' own places for pinned namespaces (mountinfo finds them too; these are named)
RUNTIME_DIRS = (
    ("/run/netns", None),
    ("/var/run/netns", None),
    ("/run/docker/netns", "docker"),
    ("/var/run/docker/netns", "docker"),
)


def link_inode(text):
    """The inode of a ``net:[INODE]`` link text, or None."""
    m = _NS_LINK.match(text or "")
    return int(m.group(1)) if m else None


def netns_inode(proc_root, pid="self"):
    """The network namespace inode of a process (``self`` by default), or None."""
    try:
        return link_inode(os.readlink("%s/%s/ns/net" % (proc_root, pid)))
    except OSError:
        return None


class Namespace(object):
    """One network namespace: its inode, the processes in it, the files that pin it."""

    __slots__ = ("inode", "pids", "paths", "names", "runtime_names", "containers")

    def __init__(self, inode):
        self.inode = inode
        self.pids = []
        self.paths = []  # nsfs files that pin it (bind mounts)
        self.names = []  # /run/netns names
        self.runtime_names = []  # e.g. docker sandbox ids
        self.containers = []  # filled by the caller from the runtime and the cgroups

    @property
    def pid(self):
        return min(self.pids) if self.pids else None

    def name(self):
        """The name an operator would use: a /run/netns name, else the container's."""
        if self.names:
            return self.names[0]
        named = [c.get("name") for c in self.containers if c.get("name")]
        if named:
            return sorted(named)[0]
        return None

    def open_path(self, proc_root):
        if self.paths:
            return self.paths[0]
        if self.pids:
            return "%s/%d/ns/net" % (proc_root, min(self.pids))
        return None


def _unescape_mount(text):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def pinned(proc_root="/proc"):
    """[(inode, path)] of the nsfs mounts of network namespaces (mountinfo), sorted by path."""
    out = []
    try:
        with open("%s/self/mountinfo" % proc_root, "rb") as f:
            data = f.read().decode("utf-8", "backslashreplace")
    except (OSError, IOError):
        return out
    for line in data.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep or not right.startswith("nsfs "):
            continue
        fields = left.split(" ")
        if len(fields) < 5:
            continue
        inode = link_inode(fields[3])
        if inode is None:
            continue
        out.append((inode, _unescape_mount(fields[4])))
    return sorted(set(out), key=lambda p: p[1])


def discover(proc_root="/proc"):
    """{inode: Namespace} of every network namespace with a process or a pinning file."""
    spaces = {}

    def get(inode):
        ns = spaces.get(inode)
        if ns is None:
            ns = spaces[inode] = Namespace(inode)
        return ns

    try:
        entries = os.listdir(proc_root)
    except OSError:
        entries = []
    for entry in entries:
        if not entry.isdigit():
            continue
        inode = netns_inode(proc_root, entry)
        if inode is not None:
            get(inode).pids.append(int(entry))
    for inode, path in pinned(proc_root):
        ns = get(inode)
        ns.paths.append(path)
        parent, base = os.path.split(path)
        for where, runtime in RUNTIME_DIRS:
            if parent == where:
                (ns.runtime_names if runtime else ns.names).append(base if runtime is None else "%s:%s" % (runtime, base))
    for ns in spaces.values():
        ns.pids.sort()
        ns.names = sorted(set(ns.names))
    return spaces


# --------------------------------------------------------------------------------------------
# entering a namespace


def _libc_setns():
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    func = libc.setns
    func.argtypes = (ctypes.c_int, ctypes.c_int)

    def setns(fd, nstype):
        if func(fd, nstype) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    return setns


_SETNS = []


def setns(fd, nstype=CLONE_NEWNET):
    if not _SETNS:
        _SETNS.append(getattr(os, "setns", None) or _libc_setns())
    _SETNS[0](fd, nstype)


def _thread_self(proc_root):
    if os.path.exists("%s/thread-self" % proc_root):
        return "%s/thread-self" % proc_root
    return "%s/self/task/%d" % (proc_root, threading.get_native_id())


def run_in(path, func, proc_root="/proc"):
    """func(proc_of_thread) run in a thread that has entered the network namespace at `path`;
    returns its result or raises its exception (OSError from open/setns when the namespace
    cannot be entered). `proc_of_thread` is the procfs directory of that thread (its ``net/``
    tables are the namespace's)."""
    box = {}

    def body():
        own = None
        try:
            own = os.open("%s/ns/net" % _thread_self(proc_root), os.O_RDONLY)
            target = os.open(path, os.O_RDONLY)
            try:
                setns(target)
            finally:
                os.close(target)
            box["value"] = func(_thread_self(proc_root))
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            if own is not None:
                try:
                    setns(own)
                except OSError:
                    pass  # the thread ends now: nothing else runs in it
                os.close(own)

    thread = threading.Thread(target=body, name="netaudit-netns")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")
