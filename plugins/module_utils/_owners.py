# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Socket owners: one walk of /proc/PID/fd mapping socket inodes to processes (netstat -p).

This is a private module_utils file of netaudit.netstat; its API may change at any time.
Standard library only: it runs on the managed host (Python 3.8+). No subprocesses.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import os

try:
    import pwd
except ImportError:  # pragma: no cover - non-POSIX
    pwd = None

_USER_CACHE = {}


def user_name(uid):
    """The name of `uid`, or the number as text when it has no passwd entry."""
    if uid is None:
        return None
    name = _USER_CACHE.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name if pwd is not None else str(uid)
        except KeyError:
            name = str(uid)
        _USER_CACHE[uid] = name
    return name


def _read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def _text(raw):
    return raw.decode("utf-8", "backslashreplace")


class OwnerResolver:
    """Maps socket inodes to the pids holding them, and pids to process details.

    `resolve(wanted)` walks every /proc/PID/fd once. Processes and fds that vanish mid-walk are
    skipped silently (they no longer hold anything); a /proc/PID/fd that cannot be read (not root,
    hidepid) is counted in `unreadable`, since a socket it holds cannot be attributed.
    """

    def __init__(self, proc_root="/proc"):
        self.proc_root = proc_root
        self.scanned = 0
        self.skipped = 0
        self.unreadable = 0
        self.vanished = 0
        self._info = {}

    def _unreadable(self):
        self.unreadable += 1

    def _ppid(self, pid):
        try:
            with open("%s/%d/stat" % (self.proc_root, pid), "rb") as f:
                stat = f.read()
            return int(stat[stat.rindex(b")") + 2:].split(None, 2)[1])
        except (OSError, IOError, ValueError, IndexError):
            return None

    def _walk_fds(self, pid, owners, wanted, remaining, holders, skip=0, limit=None):
        """Read the fd links of one process, from entry `skip` on, at most `limit` of them.

        Records wanted socket inodes in `owners`. Returns True when every entry was read, False
        when `limit` stopped the walk early, None when the process could not be read.
        """
        try:
            dir_fd = os.open("%s/%d/fd" % (self.proc_root, pid), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                self.vanished += 1
            else:
                self._unreadable()
            return None
        try:
            if limit is None:
                names = os.listdir(dir_fd)
                if skip:
                    names = names[skip:]
                complete = True
            else:
                # a lazy listing: only the first entries of a process with many descriptors
                names = []
                complete = True
                with os.scandir(dir_fd) as entries:
                    for seen, entry in enumerate(entries):
                        if seen < skip:
                            continue
                        if seen >= skip + limit:
                            complete = False
                            break
                        names.append(entry.name)
            found = self._read_links(pid, dir_fd, names, owners, wanted)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                self.vanished += 1
                return None
            self._unreadable()
            return None
        finally:
            os.close(dir_fd)
        if found is None:
            self._unreadable()
            return None
        if remaining is not None and found:
            remaining.difference_update(found)
            holders.add(pid)
        return complete

    @staticmethod
    def _read_links(pid, dir_fd, names, owners, wanted):
        """The wanted socket inodes among these fd links (recorded in `owners`), or None when the
        links cannot be read (permission)."""
        readlink = os.readlink
        found = []
        for name in names:
            try:
                target = readlink(name, dir_fd=dir_fd)
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EPERM):
                    # listable but not readable (ptrace checks, another user namespace)
                    return None
                continue  # fd closed or process gone mid-walk
            if target[:8] != "socket:[":
                continue
            try:
                inode = int(target[8:-1])
            except ValueError:
                continue
            if wanted is not None and inode not in wanted:
                continue
            pids = owners.get(inode)
            if pids is None:
                owners[inode] = [pid]
            elif pid not in pids:
                pids.append(pid)
            found.append(inode)
        return found

    def resolve(self, wanted=None, until_found=False, chunk=64):
        """Return {inode: [pid, ...]} (pids ascending) for socket inodes.

        `wanted` is a set of inodes to look for, or None for every socket seen.

        With `until_found`, the walk reads the first `chunk` descriptors of every process (sockets
        a service listens on are opened early; descriptors inherited over fork keep their number,
        so a master and its workers are found in the same pass), then the rest of each process
        only while some wanted socket still has no owner. After that only children of the owners
        found are read to the end (a socket handed down under another number, as socket
        activation does). A socket handed to an unrelated process over a UNIX socket, beyond its
        first `chunk` descriptors, is then listed without that process.
        """
        owners = {}
        try:
            entries = os.listdir(self.proc_root)
        except OSError:
            return owners
        pids = sorted(int(e) for e in entries if e.isdigit())
        if not until_found or wanted is None:
            for pid in pids:
                if self._walk_fds(pid, owners, wanted, None, None):
                    self.scanned += 1
            self._sort(owners)
            return owners
        remaining = set(wanted)
        holders = set()
        partial = []
        for pid in pids:
            done = self._walk_fds(pid, owners, wanted, remaining, holders, 0, chunk)
            if done is None:
                continue
            self.scanned += 1
            if not done:
                partial.append(pid)
        leftover = []
        for pid in partial:
            if remaining:
                self._walk_fds(pid, owners, wanted, remaining, holders, chunk)
            else:
                leftover.append(pid)
        for pid in leftover:
            if self._ppid(pid) in holders:
                self._walk_fds(pid, owners, wanted, remaining, holders, chunk)
            else:
                self.skipped += 1
        self._sort(owners)
        return owners

    @staticmethod
    def _sort(owners):
        for pids in owners.values():
            pids.sort()

    def process(self, pid):
        """Details of one process: pid, ppid, name (comm), exe, cmdline, uid, user.

        Fields that cannot be read (process gone, no permission) are None.
        """
        info = self._info.get(pid)
        if info is not None:
            return info
        base = "%s/%d" % (self.proc_root, pid)
        name = ppid = uid = exe = cmdline = None
        try:
            stat = _text(_read(base + "/stat", "rb"))
            # comm is between the first '(' and the last ')': it may hold spaces and parens.
            lpar, rpar = stat.index("("), stat.rindex(")")
            name = stat[lpar + 1:rpar]
            ppid = int(stat[rpar + 2:].split()[1])
        except (OSError, IOError, ValueError, IndexError):
            pass
        try:
            comm = _text(_read(base + "/comm", "rb"))
            name = comm[:-1] if comm.endswith("\n") else comm
        except (OSError, IOError):
            pass
        try:
            for line in _read(base + "/status", "rb").split(b"\n"):
                if line.startswith(b"Uid:"):
                    uid = int(line.split()[1])
                    break
        except (OSError, IOError, ValueError, IndexError):
            pass
        try:
            exe = os.readlink(base + "/exe")
        except OSError:
            pass
        try:
            raw = _read(base + "/cmdline", "rb")
            cmdline = _text(raw.rstrip(b"\0").replace(b"\0", b" "))
        except (OSError, IOError):
            pass
        info = {
            "pid": pid,
            "ppid": ppid,
            "name": name,
            "exe": exe,
            "cmdline": cmdline,
            "uid": uid,
            "user": user_name(uid),
        }
        self._info[pid] = info
        return info
