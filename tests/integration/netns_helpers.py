# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test hosts as network namespaces, real sockets inside them, and `ss` as the oracle.

Every namespace is created and deleted by the test that uses it; traffic stays on its loopback.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The controller's tools come from NETAUDIT_VENV (default: the project's .venv; the version matrix
# points it at another ansible-core), the managed hosts run NETAUDIT_HOST_PYTHON (default: that
# venv's python; the matrix runs the modules on the oldest and newest Python they claim).
VENV = os.environ.get("NETAUDIT_VENV") or os.path.join(REPO, ".venv")
VENV_PY = os.path.join(REPO, ".venv", "bin", "python")
PYTHON = VENV_PY if os.path.exists(VENV_PY) else sys.executable
COLLECTIONS = os.path.join(REPO, ".venv", "collections")
HOST_PYTHON = os.environ.get("NETAUDIT_HOST_PYTHON") or PYTHON
ANSIBLE_PLAYBOOK = os.path.join(VENV, "bin", "ansible-playbook")


def netns_usable():
    """(True, '') when this process may create network namespaces, else (False, why)."""
    if os.geteuid() != 0:
        return False, "needs root to create network namespaces"
    if shutil.which("ip") is None or shutil.which("ss") is None:
        return False, "needs iproute2 (ip, ss)"
    name = "na-probe-%s" % uuid.uuid4().hex[:6]
    res = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, check=False)
    if res.returncode != 0:
        return False, "ip netns add failed: %s" % res.stderr.strip()
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
    return True, ""


class Netns:
    """One network namespace with loopback up; processes started in it are ended on delete()."""

    def __init__(self, prefix="na"):
        self.name = "%s-%s" % (prefix, uuid.uuid4().hex[:8])
        self.procs = []
        self.tmpdir = tempfile.mkdtemp(prefix=self.name + "-")
        os.chmod(self.tmpdir, 0o755)
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)

    def cmd(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def run(self, argv, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("errors", "backslashreplace")  # ss prints process names as the kernel has them
        check = kw.pop("check", False)
        return subprocess.run(self.cmd(argv), check=check, **kw)

    def start(self, argv, ready="READY"):
        """Start a long-running process; wait for the line starting with `ready`; return (proc, rest)."""
        proc = subprocess.Popen(self.cmd(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.procs.append(proc)
        line = proc.stdout.readline()
        if not line.startswith(ready):
            raise RuntimeError("%s did not start: %r" % (argv, line))
        return proc, line[len(ready):].strip()

    def start_scenario(self, base=7000):
        proc, rest = self.start([PYTHON, os.path.join(REPO, "tests", "integration", "scenario.py"), str(base), self.tmpdir])
        return json.loads(rest)

    def interpreter(self, user=None, drop_caps=None):
        """A wrapper script that runs python inside this namespace (an ansible_python_interpreter).

        `user`: run as that uid (not root). `drop_caps`: run as root with these capabilities
        removed from the bounding set (e.g. "sys_ptrace,net_admin"), as in a sandbox whose pid 1
        holds more than the gatherer: root, yet unable to read a full-capability process's fds.
        """
        path = os.path.join(self.tmpdir, "python-%s-%s" % (user or "root", (drop_caps or "all").replace(",", "_")))
        prefix = "ip netns exec %s " % self.name
        if user:
            prefix += "setpriv --reuid=%s --regid=%s --clear-groups " % (user, user)
        if drop_caps:
            bounding = ",".join("-" + c.strip() for c in drop_caps.split(","))
            prefix += "setpriv --bounding-set %s --inh-caps -all -- " % bounding
        with open(path, "w") as f:
            f.write('#!/bin/sh\nexec %s%s "$@"\n' % (prefix, HOST_PYTHON))
        os.chmod(path, 0o755)
        return path

    def delete(self):
        # whatever a process was started with, the namespace goes: a cleanup that raises half way
        # leaves the namespace behind on the machine
        for proc in self.procs:
            if proc.stdin is not None:
                try:
                    proc.stdin.close()
                except OSError:
                    pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
        pids = subprocess.run(["ip", "netns", "pids", self.name], capture_output=True, text=True, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (OSError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)
        shutil.rmtree(self.tmpdir, ignore_errors=True)


SS_STATES = {
    "ESTAB": "ESTABLISHED",
    "SYN-SENT": "SYN_SENT",
    "SYN-RECV": "SYN_RECV",
    "FIN-WAIT-1": "FIN_WAIT1",
    "FIN-WAIT-2": "FIN_WAIT2",
    "TIME-WAIT": "TIME_WAIT",
    "UNCONN": "CLOSED",
    "CLOSE-WAIT": "CLOSE_WAIT",
    "LAST-ACK": "LAST_ACK",
    "LISTEN": "LISTEN",
    "CLOSING": "CLOSING",
    "UNKNOWN": "UNKNOWN",
}
_USERS = re.compile(r'\("(?P<name>(?:[^"\\]|\\.)*)",pid=(?P<pid>\d+),fd=\d+\)')


def _split_addr(text):
    host, dummy, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, (int(port) if port.isdigit() else 0)


def ss_inet(ns):
    """The TCP/UDP sockets of `ns` as ss -tuanpe sees them: a list of dicts."""
    out = ns.run(["ss", "-H", "-t", "-u", "-a", "-n", "-p", "-e"]).stdout
    socks = []
    for line in out.splitlines():
        f = line.split()
        if len(f) < 6:
            continue
        lhost, lport = _split_addr(f[4])
        rhost, rport = _split_addr(f[5])
        inode = re.search(r"\bino:(\d+)", line)
        v6only = re.search(r"\bv6only:(\d)", line)
        family = "ipv6" if (":" in lhost or lhost == "*") else "ipv4"
        socks.append({
            "proto": f[0],
            "state": SS_STATES[f[1]],
            "recv_q": int(f[2]),
            "send_q": int(f[3]),
            "local_address": lhost,
            "local_port": lport,
            "remote_address": rhost,
            "remote_port": rport,
            "family": family,
            "inode": int(inode.group(1)) if inode else 0,
            "v6only": int(v6only.group(1)) if v6only else None,
            "pids": sorted(int(m.group("pid")) for m in _USERS.finditer(line)),
        })
    return socks


def ss_unix(ns):
    """UNIX sockets of `ns` from ss -xanp: dicts with type, state, path, inode, peer, pids."""
    out = ns.run(["ss", "-H", "-x", "-a", "-n", "-p"]).stdout
    socks = []
    for line in out.splitlines():
        f = line.split()
        if len(f) < 8:
            continue
        socks.append({
            "type": {"u_str": "stream", "u_dgr": "dgram", "u_seq": "seqpacket"}.get(f[0], f[0]),
            "state": f[1],
            "recv_q": int(f[2]),
            "send_q": int(f[3]),
            "path": None if f[4] == "*" else f[4],
            "inode": int(f[5]),
            "pids": sorted(int(m.group("pid")) for m in _USERS.finditer(line)),
        })
    return socks


def normalise_address(addr):
    """ss prints the dual-stack wildcard as '*' and IPv4 wildcard as 0.0.0.0."""
    return "::" if addr == "*" else addr


def ansible_env(extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": COLLECTIONS,
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
        "PATH": os.path.join(VENV, "bin") + os.pathsep + env.get("PATH", ""),
    })
    env.update(extra or {})
    return env


def run_playbook(workdir, playbook_text, inventory_text, extra_env=None, args=(), timeout=300):
    """Write and run a playbook; return the CompletedProcess."""
    pb = os.path.join(workdir, "playbook.yml")
    inv = os.path.join(workdir, "inventory.ini")
    with open(pb, "w") as f:
        f.write(playbook_text)
    with open(inv, "w") as f:
        f.write(inventory_text)
    argv = [ANSIBLE_PLAYBOOK, "-i", inv, pb] + list(args)
    return subprocess.run(argv, capture_output=True, text=True, env=ansible_env(extra_env), cwd=workdir, timeout=timeout,
                          check=False)


def gather_via_ansible(ns, module_args_list):
    """Run netaudit.netstat.netstat_facts once per args dict on the namespace host; return facts list."""
    out = os.path.join(ns.tmpdir, "facts.json")
    tasks = []
    for i, args in enumerate(module_args_list):
        tasks.append(
            "    - netaudit.netstat.netstat_facts: %s\n"
            "      register: r%d\n" % (json.dumps(args), i)
        )
    collect = ", ".join("r%d.ansible_facts.netstat" % i for i in range(len(module_args_list)))
    playbook = (
        "- hosts: all\n  gather_facts: false\n  tasks:\n" + "".join(tasks)
        + "    - ansible.builtin.copy:\n        content: \"{{ [%s] | to_json }}\"\n        dest: %s\n" % (collect, out)
    )
    inventory = "%s ansible_connection=local ansible_python_interpreter=%s\n" % (ns.name, ns.interpreter())
    res = run_playbook(ns.tmpdir, playbook, inventory)
    if res.returncode != 0:
        raise AssertionError("ansible-playbook failed (%d):\n%s\n%s" % (res.returncode, res.stdout[-4000:], res.stderr[-2000:]))
    with open(out) as f:
        return json.load(f)
