# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""fleet_playbook: the audit playbook over 1,000 hosts against a playbook running
ansible.builtin.ping on the same inventory with the same forks, side by side in one run (issue 15).

    sudo .venv/bin/python benchmarks/fleet_playbook.py [--hosts 1000] [--forks 50] [--repeat 1]

The hosts are network namespaces (`ip netns add`), each with its own sockets: a process forked
into it listens on --listeners loopback ports and holds --connections loopback
connections (both ends), every --drift-every-th host listens on 8080 too (drift), and
--unreachable hosts are ssh hosts on a closed loopback port (unreachable). Every managed host runs
its modules through `nsenter -t PID -n -p -m python` (ansible_connection=local, pipelining on): each
host is a network namespace and a pid namespace with its own /proc, so that a gather sees the
host's own processes (its socket holder and --processes idle ones), as on a real machine, and its
Python runs without the controller's PYTHON* variables, as over SSH (--keep-python-env keeps
them; with PYTHONUNBUFFERED, Python reads a piped module a byte per read(2)). Then, in
rotating order, as whole processes:

- `ping`: `ansible-playbook` of one `ansible.builtin.ping` task;
- `audit`: `ansible-playbook netaudit.netstat.audit` with the netstat_report callback writing the
  five report files.

Prints the wall times, the ratio audit / ping (target <= 1.25), the controller's peak RSS (the
ansible-playbook process's VmHWM, target <= 256 MiB), the CPU seconds of the controller's main
process and of everything the playbook ran, the hosts' verdicts from report.json and the machine.
Before it makes the namespaces it gives each one TCP and UDP socket hash tables of its own (see
HASHES; restored at the end; --shared-hash to keep the kernel's one table). All hosts share this
machine's two cores: both playbooks are CPU-bound on the managed-host side (python start-up per
host), which is where most of the audit's extra cost is.
Everything it makes is removed at the end.
"""

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
VENV = os.path.join(REPO, ".venv")
CLONE_NEWNET = 0x40000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNS = 0x00020000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
# A host's idle processes: `sleep infinity`, killed with the rest of the host's pid namespace when
# its pid 1 (the socket holder) exits. A program of its own, as a host's processes are, at ~0.2 MiB
# each; forked copies of this Python cost ~1 MiB each (20 GiB for 1,000 hosts: docs/performance.md).
_IDLE = [shutil.which("sleep") or "/bin/sleep", "infinity"]


def _host(libc, name, index, listeners, connections, drift_every, processes, stop_r, ready_w):
    """In a forked child: become pid 1 of a new pid namespace with its own /proc, in the host's
    network namespace, with `processes` idle processes and the host's sockets; report the pid."""
    import socket

    if libc.unshare(CLONE_NEWPID | CLONE_NEWNS) != 0:
        os._exit(3)
    pid = os.fork()
    if pid:
        os.write(ready_w, b"%d\n" % pid)  # the pid as this machine sees it
        os.waitpid(pid, 0)
        os._exit(0)
    # pid 1 of the host: its own /proc, its network namespace
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0 or \
            libc.mount(b"proc", b"/proc", b"proc", 0, None) != 0:
        os._exit(4)
    fd = os.open("/run/netns/%s" % name, os.O_RDONLY)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        os._exit(5)
    os.close(fd)
    for _n in range(processes):  # the host's other processes (before the sockets: they hold none)
        if os.fork() == 0:
            try:
                os.execv(_IDLE[0], _IDLE)
            finally:
                os._exit(6)
    keep = []
    ports = list(range(10000, 10000 + listeners)) + ([8080] if drift_every and index % drift_every == 1 else [])
    for port in ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(128)
        keep.append(s)
    for _n in range(connections // 2):
        c = socket.create_connection(("127.0.0.1", 10000))
        a, _addr = keep[0].accept()
        keep += [c, a]
    os.read(stop_r, 1)  # EOF when the benchmark ends
    os._exit(0)


def hold_sockets(names, listeners, connections, drift_every, processes):
    """One host a namespace: a forked process that is pid 1 of its own pid namespace (so that the
    host's /proc shows its own processes only, as on a real machine), in the network namespace,
    with `processes` idle processes and the sockets. Returns ({name: pid}, [forked], stop fd)."""
    libc = ctypes.CDLL(None, use_errno=True)
    stop_r, stop_w = os.pipe()
    ready_r, ready_w = os.pipe()
    forked = []
    for i, name in enumerate(names):
        pid = os.fork()
        if pid == 0:
            try:
                os.close(stop_w)
                os.close(ready_r)
                _host(libc, name, i, listeners, connections, drift_every, processes, stop_r, ready_w)
            finally:
                os._exit(2)
        forked.append(pid)
    os.close(stop_r)
    os.close(ready_w)
    text = b""
    while text.count(b"\n") < len(names):
        chunk = os.read(ready_r, 65536)
        if not chunk:
            raise SystemExit("a host process died before it was ready")
        text += chunk
    pids = [int(x) for x in text.split()]
    # the pids arrive in any order: map each to its namespace by the link of its network namespace
    by_inode = dict((os.stat("/run/netns/%s" % n).st_ino, n) for n in names)
    out = {}
    deadline = time.monotonic() + 120
    while len(out) < len(names) and time.monotonic() < deadline:
        for pid in pids:
            if pid in out.values():
                continue
            try:
                inode = os.stat("/proc/%d/ns/net" % pid).st_ino
            except OSError:
                continue
            if inode in by_inode and by_inode[inode] not in out:
                out[by_inode[inode]] = pid
        time.sleep(0.05)
    if len(out) < len(names):
        raise SystemExit("only %d of %d hosts came up" % (len(out), len(names)))
    # ready once every host listens
    for name in names:
        while time.monotonic() < deadline:
            res = subprocess.run(["ip", "netns", "exec", name, "ss", "-Htln", "sport = :%d" % (10000 + listeners - 1)],
                                 capture_output=True, text=True, check=False)
            if res.stdout.strip():
                break
            time.sleep(0.05)
    return out, forked, stop_w


# On one kernel, every network namespace's TCP sockets sit in one established hash table and its UDP
# sockets in one UDP table, unless these are set before the namespaces are made (Linux 6.1 / 6.2):
# then each namespace gets tables of its own, as each real host has. With the shared tables, every
# sock_diag dump of every host walks the sockets of all 1,000 hosts (230,000 here) to find its own
# 230, which makes each gather cost grow with the fleet: a cost of the stand-in, not of a host.
HASHES = {"net.ipv4.tcp_child_ehash_entries": "1024", "net.ipv4.udp_child_hash_entries": "256"}


def _sysctl(key, value=None):
    path = "/proc/sys/" + key.replace(".", "/")
    if value is None:
        with open(path) as f:
            return f.read().strip()
    with open(path, "w") as f:
        f.write(value)
    return value


def own_hash_tables():
    """Give the namespaces made from now on hash tables of their own; returns the old values
    (restored at the end). A kernel without the settings keeps the shared tables."""
    saved = {}
    for key, value in HASHES.items():
        try:
            saved[key] = _sysctl(key)
            _sysctl(key, value)
        except OSError as exc:
            saved.pop(key, None)
            print("fleet_playbook: %s not set (%s): namespaces share the kernel's table" % (key, exc))
    return saved


def peak_rss_run(argv, env, cwd, log):
    """Run argv; return (wall seconds, returncode, peak VmHWM MiB of the process, CPU seconds of
    the controller's main process, CPU seconds of everything it ran: workers and modules)."""
    t0 = time.perf_counter()
    tick = os.sysconf("SC_CLK_TCK")
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        peak, main_cpu = 0, 0.0
        while True:
            try:
                with open("/proc/%d/status" % proc.pid) as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]))
                with open("/proc/%d/stat" % proc.pid) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                main_cpu = (int(fields[11]) + int(fields[12])) / float(tick)  # utime + stime
            except (OSError, IndexError, ValueError):
                pass
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.2)
    return time.perf_counter() - t0, proc.returncode, peak / 1024.0, main_cpu, usage.ru_utime + usage.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--forks", type=int, default=50)
    ap.add_argument("--listeners", type=int, default=30)
    ap.add_argument("--connections", type=int, default=200)
    ap.add_argument("--drift-every", type=int, default=10)
    ap.add_argument("--unreachable", type=int, default=5)
    ap.add_argument("--processes", type=int, default=20, help="idle processes a host besides its socket holder")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--shared-hash", action="store_true",
                    help="keep the kernel's one TCP/UDP hash table for every namespace (see HASHES)")
    ap.add_argument("--keep-python-env", action="store_true",
                    help="run the hosts' Python with the controller's PYTHON* variables (as the runs before 2026-12-05 late did)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (ip netns)")
    tag = "nafp-%s" % uuid.uuid4().hex[:4]
    names = ["%s-%d" % (tag, i) for i in range(args.hosts - args.unreachable)]
    work = tempfile.mkdtemp(prefix="netaudit-bench-fleet-")
    holders, stop = [], None
    host_pid = {}
    saved = {}
    try:
        if not args.shared_hash:
            saved = own_hash_tables()
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        t0 = time.perf_counter()
        host_pid, holders, stop = hold_sockets(names, args.listeners, args.connections, args.drift_every, args.processes)
        setup = time.perf_counter() - t0
        lines = []
        # the hosts' Python as over SSH, without the controller's PYTHON* variables (see the docstring)
        unset = [] if args.keep_python_env else sorted(k for k in os.environ if k.startswith("PYTHON"))
        host_env = ("without the controller's " + " ".join(unset)) if unset else "the controller's environment"
        for name in names:
            wrapper = os.path.join(work, "py-%s" % name)
            with open(wrapper, "w") as f:
                # the host's network, pid and mount namespaces (its /proc)
                f.write("#!/bin/sh\nexec env%s nsenter -t %d -n -p -m -- %s \"$@\"\n" % (
                    "".join(" -u " + k for k in unset), host_pid[name], os.path.join(VENV, "bin", "python")))
            os.chmod(wrapper, 0o755)
            lines.append("%s ansible_connection=local ansible_python_interpreter=%s" % (name, wrapper))
        for i in range(args.unreachable):
            lines.append("down-%d ansible_connection=ssh ansible_host=127.0.0.1 ansible_port=9 "
                         "ansible_ssh_common_args='-o ConnectTimeout=2 -o BatchMode=yes'" % i)
        inventory = os.path.join(work, "inventory.ini")
        with open(inventory, "w") as f:
            f.write("[fleet]\n" + "\n".join(lines) + "\n")
        policy = os.path.join(work, "policy.yml")
        with open(policy, "w") as f:
            f.write("policy: bench\nlisteners:\n  default: deny\n  allow:\n    - {name: app, proto: tcp, port: '%d-%d', "
                    "bind: loopback}\n" % (10000, 10000 + args.listeners - 1))
        ping = os.path.join(work, "ping.yml")
        with open(ping, "w") as f:
            f.write("- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.ping:\n")
        reports = os.path.join(work, "reports")
        env = dict(os.environ)
        env.update({
            "PATH": os.path.join(VENV, "bin") + os.pathsep + env.get("PATH", ""),
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(VENV, "collections"),
            "ANSIBLE_HOST_KEY_CHECKING": "False", "ANSIBLE_PIPELINING": "True", "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_LOCAL_TEMP": os.path.join(work, "ansible-local"), "ANSIBLE_HOME": os.path.join(work, "ansible-home"),
            "NETAUDIT_REPORT_DIR": reports, "ANSIBLE_NOCOLOR": "1",
        })
        rows = {
            "ping": [os.path.join(VENV, "bin", "ansible-playbook"), "-i", inventory, "-f", str(args.forks), ping],
            "audit": [os.path.join(VENV, "bin", "ansible-playbook"), "-i", inventory, "-f", str(args.forks),
                      "netaudit.netstat.audit", "-e", json.dumps({"netaudit_policies": [policy]})],
        }
        env_for = {"ping": env, "audit": dict(env, ANSIBLE_CALLBACKS_ENABLED="netaudit.netstat.netstat_report")}
        results = {k: [] for k in rows}
        order = list(rows)
        for r in range(args.repeat):
            for row in order[r % 2:] + order[:r % 2]:
                wall, rc, rss, main_cpu, cpu = peak_rss_run(rows[row], env_for[row], work,
                                                            os.path.join(work, "%s-%d.log" % (row, r)))
                results[row].append((wall, rc, rss, main_cpu, cpu))
                print("  round %d %-5s %7.1f s  rc %d  controller peak RSS %.0f MiB; CPU s: controller main process %.1f, "
                      "all processes %.1f" % (r + 1, row, wall, rc, rss, main_cpu, cpu), flush=True)
        with open(os.path.join(reports, "report.json")) as f:
            model = json.load(f)
        s = model["summary"]
        best = dict((k, min(v)) for k, v in results.items())
        ratio = best["audit"][0] / best["ping"][0]
        print("fleet_playbook: %d hosts (%d namespaces: %d listeners, %d connections each, 1 in %d drifting; %d unreachable), "
              "-f %d, %d round(s); machine: %s, %d cores, Linux %s; socket holders ready in %.1f s; "
              "TCP/UDP hash tables: %s; the hosts' Python: %s" % (
                  args.hosts, len(names), args.listeners, args.connections, args.drift_every, args.unreachable, args.forks,
                  args.repeat, os.uname().machine, os.cpu_count(), os.uname().release, setup,
                  "one per namespace" if saved else "one for all namespaces (shared)", host_env))
        for row in ("ping", "audit"):
            print("  %-5s playbook %7.1f s  controller peak RSS %4.0f MiB; CPU s: controller main process %.1f, all %.1f" % (
                row, best[row][0], max(x[2] for x in results[row]), best[row][3], best[row][4]))
        print("  audit / ping: %.2f (target <= 1.25: %s); audit controller peak RSS %.0f MiB (target <= 256: %s)" % (
            ratio, "met" if ratio <= 1.25 else "MISSED", max(x[2] for x in results["audit"]),
            "met" if max(x[2] for x in results["audit"]) <= 256 else "MISSED"))
        # each round's pair too: the best-of ratio above hides how far apart rounds land on a noisy machine
        pairs = sorted(a[0] / p[0] for a, p in zip(results["audit"], results["ping"]))
        cpu_pairs = sorted(a[4] / p[4] for a, p in zip(results["audit"], results["ping"]) if p[4])
        print("  round by round, audit / ping: wall %s (median %.2f); CPU s %s" % (
            " ".join("%.2f" % x for x in pairs), statistics.median(pairs), " ".join("%.2f" % x for x in cpu_pairs)))
        print("  report: %d hosts: %d compliant, %d drift, %d incomplete, %d failed, %d unreachable" % (
            s["hosts"], s["compliant"], s["drift"], s["incomplete"], s["failed"], s["unreachable"]))
    finally:
        for key, value in saved.items():
            _sysctl(key, value)
        if stop is not None:
            os.close(stop)
        for pid in holders:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
