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

from ansible_collections.netaudit.netstat.plugins.module_utils._cgroup import read_cgroup
from ansible_collections.netaudit.netstat.plugins.module_utils._common import host_text, unescape_host_text

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


def owner_pids(value):
    """The pids of one entry of an owner map: a map value is a single pid (int), a tuple of pids
    in ascending order (a socket shared over fork), or None (no owner known)."""
    if value is None:
        return ()
    if isinstance(value, int):
        return (value,)
    return value


def _merge(old, pid):
    """An owner map value with `pid` added (kept ascending, no duplicates)."""
    if old == pid:
        return old
    if isinstance(old, int):
        return (old, pid) if old < pid else (pid, old)
    if pid in old:
        return old
    return tuple(sorted(old + (pid,)))


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# Threads reading fd links in a full walk: readlink is kernel time with the GIL released, so two
# walkers on two CPUs finish in about 0.6 of the time of one; beyond 4 the gain is gone.
MAX_WALKERS = 4
# A process holding more descriptors than this is shared out between walkers in parts this size
# (one load balancer may hold most of the sockets of the host).
SHARE_SIZE = 1024
_VANISHED = "vanished"
_UNREADABLE = "unreadable"


class OwnerResolver:
    """Maps socket inodes to the pids holding them, and pids to process details.

    `resolve(wanted)` walks every /proc/PID/fd once. Processes and fds that vanish mid-walk are
    skipped silently (they no longer hold anything); a /proc/PID/fd that cannot be read (not root,
    hidepid) is counted in `unreadable`, since a socket it holds cannot be attributed.

    The map it returns holds, per socket inode, one pid (int) or a tuple of pids in ascending order
    (`owner_pids()` turns either into a tuple): at 200k sockets a list per socket would cost more
    memory than the sockets themselves.
    """

    def __init__(self, proc_root="/proc", walkers=None):
        self.proc_root = proc_root
        self.scanned = 0
        self.skipped = 0
        self.unreadable = 0
        self.vanished = 0
        self.walkers = walkers
        self._info = {}
        self._lock = None
        self.unreadable_pids = set()  # the pids whose descriptors could not be read

    def _count(self, status, pid=None):
        """Account for one process: True/False (read in full / in part) or why it was not read."""
        if status is _VANISHED:
            self.vanished += 1
        elif status is _UNREADABLE:
            self.unreadable += 1
            if pid is not None:
                self.unreadable_pids.add(pid)
        elif status is not None:
            self.scanned += 1

    def _count_failure(self, status, pid=None):
        """Account for a second read of a process that was counted as scanned the first time."""
        if status is _VANISHED or status is _UNREADABLE:
            self._count(status, pid)

    def _ppid(self, pid):
        try:
            with open("%s/%d/stat" % (self.proc_root, pid), "rb") as f:
                stat = f.read()
            return int(stat[stat.rindex(b")") + 2:].split(None, 2)[1])
        except (OSError, IOError, ValueError, IndexError):
            return None

    def _walk_fds(self, pid, owners, wanted, remaining, holders, skip=0, limit=None, split=None, names=None):
        """Read the fd links of one process, from entry `skip` on, at most `limit` of them.

        Records wanted socket inodes in `owners`. Returns True when every entry was read, False
        when `limit` stopped the walk early, _VANISHED or _UNREADABLE when the process could not
        be read. `split(pid, names)`, when given, takes the descriptors beyond the first
        SHARE_SIZE of a large process, for other walkers to read; `names`, when given, are the
        descriptors to read (a part shared out that way), and nothing is listed.
        """
        try:
            dir_fd = os.open("%s/%d/fd" % (self.proc_root, pid), os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                return _VANISHED
            return _UNREADABLE
        try:
            if names is not None:
                complete = True
            elif limit is None:
                names = os.listdir(dir_fd)
                if skip:
                    names = names[skip:]
                if split is not None and len(names) > SHARE_SIZE:
                    split(pid, names[SHARE_SIZE:])
                    names = names[:SHARE_SIZE]
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
            inodes = self._read_links(dir_fd, names)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ESRCH):
                return _VANISHED
            return _UNREADABLE
        finally:
            os.close(dir_fd)
        if inodes is None:
            return _UNREADABLE
        if wanted is not None:
            inodes = [inode for inode in inodes if inode in wanted]
        if inodes:
            self._record(owners, inodes, pid)
            if remaining is not None:
                remaining.difference_update(inodes)
                holders.add(pid)
        return complete

    def _record(self, owners, inodes, pid):
        """Add `pid` as an owner of `inodes` (the common case, sockets nobody else holds, in C)."""
        lock = self._lock
        if lock is not None:
            lock.acquire()
        try:
            shared = owners.keys() & inodes
            if shared:
                before = dict((inode, owners[inode]) for inode in shared)
                owners.update(dict.fromkeys(inodes, pid))
                for inode, old in before.items():
                    owners[inode] = _merge(old, pid)
            else:
                owners.update(dict.fromkeys(inodes, pid))
        finally:
            if lock is not None:
                lock.release()

    @staticmethod
    def _read_links(dir_fd, names):
        """The socket inodes among these fd links, or None when the links cannot be read
        (permission). Fds closed mid-walk are skipped."""
        readlink = os.readlink
        try:
            targets = [readlink(name, dir_fd=dir_fd) for name in names]
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EPERM):
                # listable but not readable (ptrace checks, another user namespace)
                return None
            targets = []  # an fd closed mid-walk: read them one by one
            for name in names:
                try:
                    targets.append(readlink(name, dir_fd=dir_fd))
                except OSError as exc2:
                    if exc2.errno in (errno.EACCES, errno.EPERM):
                        return None
        try:
            return [int(t[8:-1]) for t in targets if t[:8] == "socket:["]
        except ValueError:
            inodes = []
            for t in targets:
                if t[:8] == "socket:[":
                    try:
                        inodes.append(int(t[8:-1]))
                    except ValueError:
                        continue
            return inodes

    def _walk_all(self, pids, owners, wanted):
        """Read every fd of every process, with up to `walkers` threads (MAX_WALKERS, and no more
        than the CPUs this process may use, when None)."""
        walkers = self.walkers if self.walkers is not None else min(MAX_WALKERS, _cpus())
        walkers = max(1, min(walkers, len(pids)))
        if walkers == 1:
            for pid in pids:
                self._count(self._walk_fds(pid, owners, wanted, None, None), pid)
            return
        import collections
        import threading

        self._lock = threading.Lock()
        # Work items: a pid (list it, read its first SHARE_SIZE links, share out the rest) or a
        # (pid, names) part of a large process. Parts go to the front, so idle walkers help at once.
        work = collections.deque(pids)
        statuses = []

        def share(pid, names):
            parts = [(pid, names[i:i + SHARE_SIZE]) for i in range(0, len(names), SHARE_SIZE)]
            work.extendleft(reversed(parts))

        def walker():
            done = []
            while True:
                try:
                    item = work.popleft()
                except IndexError:
                    break
                if isinstance(item, tuple):
                    status = self._walk_fds(item[0], owners, wanted, None, None, names=item[1])
                    if status is _UNREADABLE:
                        done.append((status, item[0]))
                else:
                    done.append((self._walk_fds(item, owners, wanted, None, None, split=share), item))
            with self._lock:
                statuses.extend(done)

        threads = [threading.Thread(target=walker, name="netstat-owners-%d" % i) for i in range(walkers)]
        try:
            for thread in threads:
                thread.daemon = True
                thread.start()
        finally:
            for thread in threads:
                if thread.ident is not None:
                    thread.join()
            self._lock = None
        for status, pid in statuses:
            self._count(status, pid)

    def resolve(self, wanted=None, until_found=False, chunk=64):
        """Return {inode: pid or (pid, ...)} for socket inodes (see the class docstring).

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
            self._walk_all(pids, owners, wanted)
            return owners
        remaining = set(wanted)
        holders = set()
        partial = []
        for pid in pids:
            done = self._walk_fds(pid, owners, wanted, remaining, holders, 0, chunk)
            self._count(done, pid)
            if done is False:
                partial.append(pid)
        leftover = []
        for pid in partial:
            if remaining:
                self._count_failure(self._walk_fds(pid, owners, wanted, remaining, holders, chunk), pid)
            else:
                leftover.append(pid)
        for pid in leftover:
            if self._ppid(pid) in holders:
                self._count_failure(self._walk_fds(pid, owners, wanted, remaining, holders, chunk), pid)
            else:
                self.skipped += 1
        return owners

    def process(self, pid):
        """Details of one process: pid, ppid, name (comm), exe, cmdline, uid, user.

        Fields that cannot be read (process gone, no permission) are None.
        """
        info = self._info.get(pid)
        if info is not None:
            return info
        base = "%s/%d" % (self.proc_root, pid)
        name = ppid = uid = exe = cmdline = None
        hexes = {}
        try:
            comm = _read(base + "/comm", "rb")
            name, hexes["name"] = host_text(comm[:-1] if comm.endswith(b"\n") else comm)
        except (OSError, IOError):
            pass
        try:
            for line in _read(base + "/status", "rb").split(b"\n"):
                if line.startswith(b"PPid:"):
                    ppid = int(line.split()[1])
                elif line.startswith(b"Uid:"):
                    uid = int(line.split()[1])
                    break  # Uid comes after Name and PPid
        except (OSError, IOError, ValueError, IndexError):
            pass
        if name is None or ppid is None:
            try:
                stat = _text(_read(base + "/stat", "rb"))
                # comm is between the first '(' and the last ')': it may hold spaces and parens.
                lpar, rpar = stat.index("("), stat.rindex(")")
                if name is None:
                    name = stat[lpar + 1:rpar]
                    hexes["name"] = None if "\\x" not in name else unescape_host_text(name).hex()
                if ppid is None:
                    ppid = int(stat[rpar + 2:].split()[1])
            except (OSError, IOError, ValueError, IndexError):
                pass
        try:
            # as bytes: an executable whose name is not UTF-8 must not put lone surrogates in the
            # facts (ansible-core refuses them), nor lose its real name
            exe, hexes["exe"] = host_text(os.readlink((base + "/exe").encode()))
        except OSError:
            pass
        try:
            raw = _read(base + "/cmdline", "rb")
            cmdline, hexes["cmdline"] = host_text(raw.rstrip(b"\0").replace(b"\0", b" "))
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
        for key, value in hexes.items():
            if value is not None:
                info[key + "_hex"] = value  # the original bytes, when they are not UTF-8
        cg = read_cgroup(self.proc_root, pid)
        info["unit"] = cg["unit"] if cg else None  # the systemd unit (nginx.service), from the cgroup path
        info["container"] = cg["container"] if cg else None  # {id, runtime} when the cgroup names one
        self._info[pid] = info
        return info
