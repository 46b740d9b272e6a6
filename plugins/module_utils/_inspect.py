# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Why a process could not be inspected, and which unresolved socket it may hold.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
Standard library only: it runs on the managed host (Python 3.8+).

Reading the links in /proc/PID/fd is a ptrace "read" access check in the kernel
(``ptrace_may_access(PTRACE_MODE_READ_FSCREDS)``, fs/proc/fd.c). It fails when:

- the reader is not root and the target runs as another user (``not-root``);
- /proc is mounted with ``hidepid=`` and the target is another user's (``hidepid``; with
  hidepid=2/invisible the process is not even listed);
- the reader is root, but the target's permitted capabilities are not a subset of the reader's
  and the reader lacks CAP_SYS_PTRACE over it (``capabilities``: a gatherer in a container or
  sandbox whose bounding set was reduced, reading the host's pid 1);
- the target lives in a user namespace the reader does not own (``user-namespace``);
- an LSM (AppArmor, SELinux, Yama) refuses it (``lsm``).

A process that exits between the listing of /proc and the read of its descriptors is
``vanished``. The status file and comm stay world-readable in every case but hidepid, so the
name, uid and capabilities of the process can still be read and reported.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.netaudit.netstat.plugins.module_utils._owners import user_name

# include/uapi/linux/capability.h
CAP_NAMES = (
    "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid",
    "setpcap", "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw",
    "ipc_lock", "ipc_owner", "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct",
    "sys_admin", "sys_boot", "sys_nice", "sys_resource", "sys_time", "sys_tty_config", "mknod",
    "lease", "audit_write", "audit_control", "setfcap", "mac_override", "mac_admin", "syslog",
    "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf", "checkpoint_restore",
)
CAP_SYS_PTRACE = 19

CAUSES = ("not-root", "hidepid", "capabilities", "user-namespace", "lsm", "vanished")

DESCRIPTION = {
    "not-root": "not root",
    "hidepid": "hidden by the hidepid option of /proc",
    "capabilities": "denied although root: the process holds capabilities the gatherer lacks",
    "user-namespace": "denied although root: the process is in another user namespace",
    "lsm": "denied although root: an LSM refused the access",
    "vanished": "the process vanished during the scan",
}

# At most this many uninspected processes are described one by one in the facts.
MAX_DESCRIBED = 100


def _read_text(path):
    try:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "backslashreplace")
    except (OSError, IOError):
        return None


def _status(proc_root, pid):
    """The fields of /proc/PID/status we use: name, uid (effective), CapPrm, CapEff (ints)."""
    text = _read_text("%s/%s/status" % (proc_root, pid))
    out = {}
    if text is None:
        return out
    for line in text.split("\n"):
        key, sep, value = line.partition(":")
        if not sep:
            continue
        value = value.strip()
        try:
            if key == "Name":
                out["name"] = value
            elif key == "Uid":
                out["uid"] = int(value.split()[1])
            elif key == "CapPrm":
                out["cap_prm"] = int(value, 16)
            elif key == "CapEff":
                out["cap_eff"] = int(value, 16)
        except (ValueError, IndexError):
            continue
    return out


def cap_names(mask):
    """Capability bits as names (cap_sys_admin, ...); unknown bits as cap_N."""
    out = []
    bit = 0
    while mask:
        if mask & 1:
            out.append("cap_" + (CAP_NAMES[bit] if bit < len(CAP_NAMES) else str(bit)))
        mask >>= 1
        bit += 1
    return out


def hidepid_option(proc_root="/proc"):
    """The hidepid= value of the procfs mounted at `proc_root` (None when not set / not found)."""
    text = _read_text("/proc/self/mountinfo")
    if not text:
        return None
    target = os.path.realpath(proc_root)
    found = None
    for line in text.split("\n"):
        fields = line.split(" - ", 1)
        if len(fields) != 2:
            continue
        left, right = fields[0].split(), fields[1].split()
        if len(left) < 5 or len(right) < 3 or right[0] != "proc" or left[4] != target:
            continue
        found = None
        for opt in right[2].split(","):
            if opt.startswith("hidepid="):
                value = opt[len("hidepid="):]
                found = None if value in ("0", "off") else value
    return found


class Inspector(object):
    """Classifies the processes whose descriptors could not be read (see the module docstring)."""

    def __init__(self, proc_root="/proc"):
        self.proc_root = proc_root
        self.euid = os.geteuid()
        me = _status(proc_root, "self") if proc_root == "/proc" else _status("/proc", "self")
        self.cap_prm = me.get("cap_prm", 0)
        self.cap_eff = me.get("cap_eff", 0)
        self.uid_map = _read_text("/proc/self/uid_map")
        self.hidepid = hidepid_option(proc_root)
        self._tables = {}

    def classify(self, pid):
        """{pid, name, uid, user, cause, detail} for a process whose fds could not be read."""
        st = _status(self.proc_root, pid)
        uid = st.get("uid")
        info = {"pid": pid, "name": st.get("name"), "uid": uid, "user": user_name(uid)}
        if not st:
            info.update(cause="vanished", detail=DESCRIPTION["vanished"])
            return info
        if self.euid != 0:
            if self.hidepid and uid != self.euid:
                info.update(cause="hidepid", detail="/proc is mounted with hidepid=%s" % self.hidepid)
            else:
                info.update(cause="not-root", detail="the gatherer runs as uid %d, the process as uid %s" % (self.euid, uid))
            return info
        missing = st.get("cap_prm", 0) & ~self.cap_prm
        if missing or not self.cap_eff & (1 << CAP_SYS_PTRACE):
            lacks = cap_names(missing) if missing else ["cap_sys_ptrace"]
            info.update(
                cause="capabilities",
                detail="it holds %s, which the gatherer (root) lacks" % ", ".join(lacks[:6])
                + (" (+%d more)" % (len(lacks) - 6) if len(lacks) > 6 else ""),
            )
            return info
        their_map = _read_text("%s/%s/uid_map" % (self.proc_root, pid))
        if their_map is not None and self.uid_map is not None and their_map.split() != self.uid_map.split():
            info.update(cause="user-namespace", detail="it is in another user namespace (its uid_map differs)")
            return info
        label = _read_text("%s/%s/attr/current" % (self.proc_root, pid))
        label = (label or "").strip("\0\n ")
        info.update(
            cause="lsm",
            detail="an LSM refused root with the needed capabilities%s" % (" (process label %s)" % label if label else ""),
        )
        return info

    def table_inodes(self, pid, table):
        """The socket inodes /proc/PID/net/<table> lists (tcp, tcp6: the LISTEN part only, which
        the kernel lists first; udp, udp6: all). World-readable even where the fds are not, and
        the same for every process of one network namespace: a process whose table lists a
        socket is in that socket's namespace. Cached per (pid, table)."""
        key = (pid, table)
        cached = self._tables.get(key)
        if cached is not None:
            return cached
        inodes = set()
        listen_only = table in ("tcp", "tcp6")
        try:
            with open("%s/%s/net/%s" % (self.proc_root, pid, table), "rb") as f:
                f.readline()
                for line in f:
                    fields = line.split()
                    if len(fields) < 10:
                        continue
                    if listen_only and fields[3] != b"0A":
                        break
                    if fields[9].isdigit():
                        inodes.add(int(fields[9]))
        except (OSError, IOError):
            pass
        self._tables[key] = inodes
        return inodes

    def same_netns(self, pids, proto, family, inode):
        """The pids whose network namespace holds the socket (see table_inodes)."""
        if not inode or proto not in ("tcp", "udp"):
            return list(pids)
        table = proto + ("6" if family == "ipv6" else "")
        return [pid for pid in pids if inode in self.table_inodes(pid, table)]

    def describe(self, unreadable_pids):
        """Every uninspected process, classified, sorted by pid."""
        return [self.classify(pid) for pid in sorted(unreadable_pids)]


def unresolved_owner(sock_uid, uninspected, hidepid=None, in_netns=None):
    """Why a socket with no known owner has none: {cause, pids, detail} or None (no process holds
    it as far as anything could see: a kernel socket, or one in flight).

    The candidates are the uninspected processes running as the socket's uid (a socket's uid is
    its creator's), narrowed by `in_netns(pids)` (those in the socket's network namespace) when
    given; when that leaves none, every uninspected process is a candidate.
    """
    denied = [p for p in uninspected if p["cause"] != "vanished"]
    if denied:
        same = [p for p in denied if sock_uid is not None and p.get("uid") == sock_uid] or denied
        if in_netns is not None:
            inside = set(in_netns([p["pid"] for p in same]))
            same = [p for p in same if p["pid"] in inside] or same
        cands = same
        causes = sorted({p["cause"] for p in cands}, key=CAUSES.index)
        first = cands[0]
        detail = "could not inspect %s" % ", ".join(
            "pid %s (%s)" % (p["pid"], p.get("name") or "?") for p in cands[:5]
        ) + (" and %d more" % (len(cands) - 5) if len(cands) > 5 else "")
        detail += ": " + (first.get("detail") or DESCRIPTION[first["cause"]])
        return {"cause": causes[0], "causes": causes, "pids": [p["pid"] for p in cands[:20]], "detail": detail}
    if hidepid:  # the caller passes it only when it hid processes (the gatherer is not root)
        return {
            "cause": "hidepid",
            "causes": ["hidepid"],
            "pids": [],
            "detail": "/proc is mounted with hidepid=%s: other users' processes are not listed" % hidepid,
        }
    return None
