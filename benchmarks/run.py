# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Side-by-side benchmark of the socket gatherers (issue 5). Run as root from the repository:

    .venv/bin/python benchmarks/run.py --n 1000,10000,50000 --repeat 5

For each N it builds a network namespace holding N loopback TCP connections (2N sockets, spread
over load processes of at most --per-proc connections each: a process may hold 20,000 files),
plus N/100 TIME_WAIT sockets, N/100 UDP sockets and N/20 UNIX socket pairs, and optionally
--idle-procs sleeping processes (the many-processes variant: owner resolution walks every
process). Then it runs every selected row as a whole process inside the namespace (nsenter),
interleaved round by round, and prints per row the median wall time, median peak RSS, ms per
1k sockets and the ratio to the reference row (``ss -tuanp``).

Adding a row: append a Row to ROWS. A row's ``argv(ctx)`` returns the command to run inside the
namespace (or None to skip it, with ``ctx.skip(reason)``); ``ctx`` has the namespace name, the
python to use, the collection path and a scratch directory. Rows run through ``nsenter`` unless
``netns=False`` (then the command enters the namespace itself, e.g. an Ansible inventory whose
interpreter is a wrapper script). Results also go to benchmarks/results/ as JSON.
"""

import argparse
import compileall
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
VENV_PY = os.path.join(REPO, ".venv", "bin", "python")
COLLECTIONS = os.path.join(REPO, ".venv", "collections")
RESULTS = os.path.join(HERE, "results")
# community.general for the listen_ports_facts row (benchmarks/setup-compare.sh puts it there)
COMPARE_COLLECTIONS = os.path.join(HERE, ".deps")

_IMPORT = "from ansible_collections.netaudit.netstat.plugins.module_utils import %s as m\n"

# Python snippets for the in-process rows (each runs in a fresh interpreter, like a module would).
SNIPPETS = {
    "netlink_records": _IMPORT % "_netlink"
    + "b = m.NetlinkBackend(); b.check()\n"
    + "n = sum(1 for _ in b.inet_sockets()) + sum(1 for _ in b.unix_sockets())\n",
    "netlink_counts": _IMPORT % "_netlink" + "m.NetlinkBackend().state_counts(('tcp', 'udp', 'unix'))\n",
    "netlink_listeners": _IMPORT % "_netlink"
    + "list(m.NetlinkBackend().inet_sockets(states={'LISTEN', 'CLOSED'}))\n",
    "procfs_records": _IMPORT % "_procfs"
    + "b = m.ProcfsBackend(); b.check()\n"
    + "n = sum(1 for _ in b.inet_sockets()) + sum(1 for _ in b.unix_sockets())\n",
    "psutil": "import psutil\npsutil.net_connections('inet')\n",
    # The prototype row: every TCP/UDP/UNIX record plus its owners, no fact building.
    "netlink_owners": _IMPORT % "_netlink"
    + "from ansible_collections.netaudit.netstat.plugins.module_utils._owners import OwnerResolver\n"
    + "b = m.NetlinkBackend()\n"
    + "socks = list(b.inet_sockets()) + list(b.unix_sockets())\n"
    + "owners = OwnerResolver().resolve(set(s.inode for s in socks if s.inode))\n",
}


def _gather_snippet(**options):
    return (
        _IMPORT % "_gather"
        + "import json, sys\n"
        + "facts = m.gather(m.Options(**%r))\n" % (options,)
        + "sys.stdout.write(json.dumps(facts))\n"
    )


SNIPPETS["gather_netlink_default"] = _gather_snippet(backend="netlink")
# What `ss -tuanp` and psutil's net_connections('inet') list: every TCP/UDP socket with its owners.
SNIPPETS["gather_netlink_inet"] = _gather_snippet(backend="netlink", connections="compact", protocols=("tcp", "udp"))
SNIPPETS["gather_netlink_all"] = _gather_snippet(backend="netlink", connections="compact", unix="all")
SNIPPETS["gather_procfs_all"] = _gather_snippet(backend="procfs", connections="compact", unix="all")


class Row:
    def __init__(self, name, argv, netns=True, group="tools"):
        self.name = name
        self.argv = argv
        self.netns = netns
        self.group = group


def _py(snippet):
    return lambda ctx: [ctx.python, "-c", SNIPPETS[snippet]]


def _tool(*argv):
    def build(ctx):
        if shutil.which(argv[0]) is None:
            return ctx.skip("%s is not installed" % argv[0])
        return list(argv)

    return build


def _inventory(ctx):
    """An inventory whose one host runs modules inside the benchmark namespace."""
    wrapper = os.path.join(ctx.scratch, "python-" + ctx.ns)
    inventory = os.path.join(ctx.scratch, "inventory-" + ctx.ns)
    if not os.path.exists(inventory):
        # As over SSH, the host's Python runs without the controller's PYTHON* variables (nor the
        # PYTHONPATH _env gives the rows): with PYTHONUNBUFFERED (set on this machine), CPython
        # reads a piped module a byte per read(2), ~0.7 ms of CPU per kB here, which no SSH host
        # pays (docs/performance.md).
        unset = "".join(" -u " + k for k in sorted(set(os.environ) | {"PYTHONPATH"}) if k.startswith("PYTHON"))
        with open(wrapper, "w") as f:
            f.write('#!/bin/sh\nexec env%s nsenter --net=/run/netns/%s %s "$@"\n' % (unset, ctx.ns, ctx.python))
        os.chmod(wrapper, 0o755)
        with open(inventory, "w") as f:
            f.write("bench ansible_connection=local ansible_python_interpreter=%s\n" % wrapper)
    return inventory


def _ansible_command(ctx, command, module):
    """The path of an Ansible command next to the benchmark's python, or None (the row skipped)
    when it or the module's collection is missing."""
    path = os.path.join(os.path.dirname(ctx.python), command)
    if not os.path.exists(path):
        return ctx.skip("%s is not installed next to %s" % (command, ctx.python))
    if module.startswith("community.general.") and not _has_collection("community/general"):
        return ctx.skip("community.general is not installed (benchmarks/setup-compare.sh)")
    return path


def _ansible(module, args=""):
    def build(ctx):
        ansible = _ansible_command(ctx, "ansible", module)
        if ansible is None:
            return None
        argv = [ansible, "bench", "-i", _inventory(ctx), "-m", module]
        if args:
            argv += ["-a", args]
        return argv

    return build


def _playbook(module, args=None):
    """A one-task playbook (how the module runs in a fleet audit): unlike an ad hoc command,
    the default callback does not print the result, so this is the task's own cost."""

    def build(ctx):
        playbook_bin = _ansible_command(ctx, "ansible-playbook", module)
        if playbook_bin is None:
            return None
        name = "play-%s-%s.yml" % (module.rsplit(".", 1)[-1], "-".join("%s=%s" % kv for kv in sorted((args or {}).items())))
        path = os.path.join(ctx.scratch, name)
        with open(path, "w") as f:
            json.dump([{"hosts": "bench", "gather_facts": False, "tasks": [{module: args or {}}]}], f)
        return [playbook_bin, "-i", _inventory(ctx), path]

    return build


def _module(**args):
    """netstat_facts run directly (no Ansible): the module's own time and peak RSS."""

    def build(ctx):
        module = os.path.join(REPO, "plugins", "modules", "netstat_facts.py")
        if not os.path.exists(module):
            return ctx.skip("plugins/modules/netstat_facts.py does not exist")
        name = "args-" + "-".join("%s=%s" % kv for kv in sorted(args.items())) + ".json"
        path = os.path.join(ctx.scratch, name)
        with open(path, "w") as f:
            json.dump({"ANSIBLE_MODULE_ARGS": args}, f)
        return [ctx.python, module, path]

    return build


def _has_collection(path):
    for root in [COLLECTIONS, COMPARE_COLLECTIONS] + sys.path:
        if os.path.isdir(os.path.join(root, "ansible_collections", path)):
            return True
    return False


REFERENCE = "ss -tuanp"
ROWS = [
    Row("python -c pass (floor)", lambda ctx: [ctx.python, "-c", "pass"], group="floor"),
    Row("ss -tuanp", _tool("ss", "-tuanp")),
    Row("netstat -tanp", _tool("netstat", "-tanp")),
    Row("psutil net_connections('inet')", _py("psutil")),
    Row("netlink counts only", _py("netlink_counts"), group="backend"),
    Row("netlink listeners only", _py("netlink_listeners"), group="backend"),
    Row("netlink records, no owners", _py("netlink_records"), group="backend"),
    Row("procfs records, no owners", _py("procfs_records"), group="backend"),
    Row("netlink records + owners", _py("netlink_owners"), group="backend"),
    Row("gather netlink default", _py("gather_netlink_default"), group="gather"),
    Row("gather netlink tcp+udp+owners", _py("gather_netlink_inet"), group="gather"),
    Row("gather netlink all+owners", _py("gather_netlink_all"), group="gather"),
    Row("gather procfs all+owners", _py("gather_procfs_all"), group="gather"),
    Row("module default (direct)", _module(), group="module"),
    Row("module full (direct)", _module(connections="full", unix="all"), group="module"),
    Row("module compact (direct)", _module(connections="compact"), group="module"),
    Row("module compact, unix all (direct)", _module(connections="compact", unix="all"), group="module"),
    Row("ansible -m ping", _ansible("ansible.builtin.ping"), netns=False, group="ansible"),
    Row("playbook: ping", _playbook("ansible.builtin.ping"), netns=False, group="ansible"),
    Row("playbook: netstat_facts default", _playbook("netaudit.netstat.netstat_facts"), netns=False, group="ansible"),
    Row("playbook: netstat_facts compact", _playbook("netaudit.netstat.netstat_facts", {"connections": "compact"}),
        netns=False, group="ansible"),
    Row("ansible task default", _ansible("netaudit.netstat.netstat_facts"), netns=False, group="ansible"),
    Row("ansible task compact", _ansible("netaudit.netstat.netstat_facts", "connections=compact"),
        netns=False, group="ansible"),
    Row("ansible task full", _ansible("netaudit.netstat.netstat_facts", "connections=full"),
        netns=False, group="ansible"),
    Row("listen_ports_facts", _ansible("community.general.listen_ports_facts"), netns=False, group="ansible"),
    Row("playbook: listen_ports_facts", _playbook("community.general.listen_ports_facts"), netns=False, group="ansible"),
]


class Context:
    def __init__(self, ns, python, scratch):
        self.ns = ns
        self.python = python
        self.collections = COLLECTIONS
        self.scratch = scratch
        self.skipped = None

    def skip(self, reason):
        self.skipped = reason
        return None


class Scenario:
    """The benchmark namespace and its load processes."""

    def __init__(self, n, per_proc, idle_procs, python, listener_procs=0):
        self.n = n
        self.name = "nabench-%d-%d" % (os.getpid(), n)
        self.procs = []
        self.python = python
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        try:
            self._build(per_proc, idle_procs, listener_procs)
        except BaseException:
            self.delete()
            raise

    def enter(self, argv):
        return ["nsenter", "--net=/run/netns/" + self.name] + list(argv)

    def _build(self, per_proc, idle_procs, listener_procs=0):
        subprocess.run(["ip", "-n", self.name, "link", "set", "lo", "up"], check=True)
        subprocess.run(
            self.enter(["sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65000"]),
            check=True,
        )
        left = self.n
        port = 200  # listeners below the ephemeral range: no client may take a listener's port
        workers = []
        while left > 0 or not workers:
            conns = min(per_proc, left)
            left -= conns
            argv = [self.python, os.path.join(HERE, "load_worker.py"), str(port), str(conns),
                    str(conns // 100), str(conns // 100), str(conns // 20)]
            proc = subprocess.Popen(self.enter(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    universal_newlines=True)
            self.procs.append(proc)
            workers.append(proc)
            port += 1
        if listener_procs:
            # above the (widened) ephemeral range: no client connection can take these ports
            argv = [self.python, os.path.join(HERE, "load_worker.py"), "--listeners", "65001", str(listener_procs)]
            proc = subprocess.Popen(self.enter(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    universal_newlines=True)
            self.procs.append(proc)
            workers.append(proc)
        for proc in workers:
            line = proc.stdout.readline()
            if not line.startswith("READY"):
                raise RuntimeError("load worker failed to start: %r" % line)
        for _i in range(idle_procs):
            self.procs.append(subprocess.Popen(self.enter(["sleep", "100000"]), stdin=subprocess.PIPE))

    def counts(self):
        code = _IMPORT % "_netlink" + "import json; print(json.dumps(m.NetlinkBackend().state_counts()))"
        out = subprocess.run(self.enter([self.python, "-c", code]), stdout=subprocess.PIPE,
                             universal_newlines=True, env=_env(), check=True).stdout
        return json.loads(out)

    def delete(self):
        for proc in self.procs:
            try:
                if proc.stdin:
                    proc.stdin.close()
            except OSError:
                pass
            if proc.poll() is None and proc.args and "sleep" in proc.args:
                proc.kill()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        subprocess.run(["ip", "netns", "del", self.name], check=False)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = COLLECTIONS
    env["ANSIBLE_COLLECTIONS_PATH"] = COLLECTIONS + os.pathsep + COMPARE_COLLECTIONS
    return env


TIME = "/usr/bin/time"  # GNU time: the child it forks is small, so its peak RSS is the row's own


def run_once(argv, timeout):
    """Run argv; return (wall seconds, peak RSS MiB, cpu seconds, exit status, stderr tail).

    Peak RSS comes from GNU time when installed: a child forked straight from this (large)
    Python process would report this process's RSS as its own high-water mark.
    """
    err = tempfile.TemporaryFile()
    stats = None
    if os.path.exists(TIME):
        fd, stats = tempfile.mkstemp(prefix="nabench-time-")
        os.close(fd)
        argv = [TIME, "-q", "-o", stats, "-f", "%M %U %S"] + list(argv)
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=_env())
    # Popen.wait(timeout) polls with sleeps of up to 50 ms: block in waitpid, kill from a timer.
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        status = proc.wait()
    finally:
        timer.cancel()
    if status == -9:
        status = "killed (timeout %ss?)" % timeout
    wall = time.perf_counter() - started
    rss = cpu = float("nan")
    if stats:
        try:
            with open(stats) as f:
                fields = f.read().split()
            rss = int(fields[-3]) / 1024.0
            cpu = float(fields[-2]) + float(fields[-1])
        except (OSError, ValueError, IndexError):
            pass
        os.unlink(stats)
    err.seek(0)
    tail = err.read()[-400:].decode("utf-8", "replace")
    err.close()
    return wall, rss, cpu, status, tail


def bench(scenario, rows, repeat, timeout, scratch):
    ctx = Context(scenario.name, scenario.python, scratch)
    argvs = {}
    skipped = {}
    for row in rows:
        ctx.skipped = None
        argv = row.argv(ctx)
        if argv is None:
            skipped[row.name] = ctx.skipped or "skipped"
            continue
        argvs[row.name] = scenario.enter(argv) if row.netns else argv
    samples = dict((name, []) for name in argvs)
    failures = {}
    names = list(argvs)
    for rnd in range(repeat):
        order = names[rnd % len(names):] + names[: rnd % len(names)]  # rotate: interleaved
        for name in order:
            if name in failures:
                continue
            wall, rss, cpu, status, tail = run_once(argvs[name], timeout)
            if status != 0:
                failures[name] = "exit status %s: %s" % (status, tail.strip())
                continue
            samples[name].append((wall, rss, cpu))
    result = {}
    for name, runs in samples.items():
        if not runs:
            continue
        result[name] = {
            "wall": statistics.median(r[0] for r in runs),
            "rss_mib": statistics.median(r[1] for r in runs),
            "cpu": statistics.median(r[2] for r in runs),
            "runs": len(runs),
            "walls": [round(r[0], 4) for r in runs],
        }
    return result, failures, skipped


def print_table(n, sockets, result, failures, skipped, reference):
    ref = result.get(reference, {}).get("wall")
    print()
    print("N=%d connections, %d sockets (tcp %d, udp %d, unix %d)" % (
        n, sockets["total"], sockets["tcp"], sockets["udp"], sockets["unix"]))
    head = "%-34s %9s %9s %9s %8s %9s" % ("row", "median s", "cpu s", "ms/1k", "RSS MiB", "x " + reference.split()[0])
    print(head)
    print("-" * len(head))
    for name, r in result.items():
        ratio = ("%.3f" % (r["wall"] / ref)) if ref else "-"
        per_k = r["wall"] * 1000.0 / max(1, sockets["total"]) * 1000.0
        print("%-34s %9.3f %9.3f %9.3f %8.1f %9s" % (name, r["wall"], r["cpu"], per_k, r["rss_mib"], ratio))
    for name, why in failures.items():
        print("%-34s FAILED: %s" % (name, why))
    for name, why in skipped.items():
        print("%-34s skipped: %s" % (name, why))
    sys.stdout.flush()


# Targets of issue 5: (description, N, row, "ratio" against row | "rss", limit). A target is
# checked when both rows ran at that N; "ratio" is median(row) / median(other) <= limit, a limit
# below 0 means "other is at least -limit times slower" (median(other) / median(row) >= -limit).
# The gather that lists what `ss -tuanp` and psutil list: every TCP/UDP socket with its owners.
GATHER = "gather netlink tcp+udp+owners"
TARGETS = [
    ("gather with owners <= 0.75x ss -tuanp", 10000, GATHER, "ss -tuanp", 0.75),
    ("gather with owners <= 0.2x ss -tuanp", 50000, GATHER, "ss -tuanp", 0.2),
    ("gather with owners >= 2x faster than psutil", 10000, GATHER, "psutil net_connections('inet')", -2),
    ("gather with owners >= 2x faster than psutil", 50000, GATHER, "psutil net_connections('inet')", -2),
    ("gather with owners >= 2x faster than psutil", 100000, GATHER, "psutil net_connections('inet')", -2),
    ("Ansible task default <= 1.5x ansible -m ping", 50000, "ansible task default", "ansible -m ping", 1.5),
    ("Ansible task default <= 1.4x ansible -m ping (issue 15)", 50000, "ansible task default", "ansible -m ping", 1.4),
    ("full list (compact form) through Ansible <= 2x counts-only task", 100000, "playbook: netstat_facts compact",
     "playbook: netstat_facts default", 2.0),
    ("Ansible task default >= 20x faster than listen_ports_facts (500 processes)", "procs",
     "playbook: netstat_facts default", "playbook: listen_ports_facts", -20),
    ("module peak RSS <= 64 MiB, default options", 50000, "module default (direct)", "rss", 64),
    ("module peak RSS <= 100 MiB, full list (compact form)", 100000, "module compact (direct)", "rss", 100),
]


def check_targets(runs):
    """Print each target (issues 5 and 15) that this run can decide: met / MISSED with the numbers."""
    lines = []
    for desc, n, row, other, limit in TARGETS:
        for run in runs:
            if n == "procs":
                # the many-processes variant: at least 500 extra processes in the namespace
                if run.get("idle_procs", 0) + run.get("listener_procs", 0) < 500:
                    continue
            elif n is not None and run["n"] != n:
                continue
            res = run["results"]
            label = "N=%d%s%s" % (run["n"], ", %d idle processes" % run["idle_procs"] if run["idle_procs"] else "",
                                  ", %d listening processes" % run.get("listener_procs", 0) if run.get("listener_procs") else "")
            if row not in res:
                continue
            if other == "rss":
                value = res[row]["rss_mib"]
                ok = value <= limit
                lines.append("%-6s %-58s %s: %.1f MiB" % ("met" if ok else "MISSED", desc, label, value))
                continue
            if other not in res:
                continue
            if limit < 0:
                value = res[other]["wall"] / res[row]["wall"]
                ok = value >= -limit
                detail = "%.2fx faster" % value
            else:
                value = res[row]["wall"] / res[other]["wall"]
                ok = value <= limit
                detail = "%.3fx" % value
            lines.append("%-6s %-58s %s: %s (%.3fs vs %.3fs)" % (
                "met" if ok else "MISSED", desc, label, detail, res[row]["wall"], res[other]["wall"]))
    if lines:
        print("\ntargets (issues 5 and 15):")
        for line in lines:
            print("  " + line)
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", default="1000,10000", help="comma-separated connection counts (default 1000,10000)")
    ap.add_argument("--repeat", type=int, default=5, help="rounds per N (default 5)")
    ap.add_argument("--per-proc", type=int, default=8000, help="connections per load process (default 8000)")
    ap.add_argument("--idle-procs", type=int, default=0, help="extra idle (sleeping) processes in the namespace")
    ap.add_argument("--listener-procs", type=int, default=0,
                    help="extra processes each listening on its own TCP port (at most 535: ports 65001-65535)")
    ap.add_argument("--rows", default="", help="only rows whose group or name contains one of these comma-separated words")
    ap.add_argument("--skip", default="", help="leave out rows whose name contains one of these comma-separated words")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per run before it counts as failed")
    ap.add_argument("--python", default=VENV_PY if os.path.exists(VENV_PY) else sys.executable)
    ap.add_argument("--list", action="store_true", help="list the rows and exit")
    args = ap.parse_args()
    if args.list:
        for row in ROWS:
            print("%-10s %s" % (row.group, row.name))
        return 0
    if os.geteuid() != 0:
        ap.error("needs root (network namespaces)")
    if not 0 <= args.listener_procs <= 535:
        ap.error("--listener-procs must be between 0 and 535 (ports 65001-65535)")
    rows = ROWS
    if args.rows:
        words = [w.strip().lower() for w in args.rows.split(",") if w.strip()]
        rows = [r for r in ROWS if r.group in words or any(w in r.name.lower() for w in words) or r.name == REFERENCE]
    if args.skip:
        words = [w.strip().lower() for w in args.skip.split(",") if w.strip()]
        rows = [r for r in rows if not any(w in r.name.lower() for w in words) or r.name == REFERENCE]
    # Byte-compile the collection's Python, as pip did for psutil when it installed it: otherwise
    # every in-process row pays for compiling our sources (PYTHONDONTWRITEBYTECODE is common in CI).
    compileall.compile_dir(os.path.join(REPO, "plugins"), quiet=1)
    machine = {
        "host": platform.node(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    print("machine: %s" % json.dumps(machine))
    all_results = {"machine": machine, "runs": []}
    os.makedirs(RESULTS, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="nabench-")
    try:
        for n in [int(x) for x in args.n.split(",") if x.strip()]:
            t0 = time.time()
            scenario = Scenario(n, args.per_proc, args.idle_procs, args.python, args.listener_procs)
            try:
                counts = scenario.counts()
                sockets = dict((p, sum(counts[p].values())) for p in ("tcp", "udp", "unix"))
                sockets["total"] = sum(sockets.values())
                print("built N=%d in %.1fs" % (n, time.time() - t0))
                result, failures, skipped = bench(scenario, rows, args.repeat, args.timeout, scratch)
            finally:
                scenario.delete()
            print_table(n, sockets, result, failures, skipped, REFERENCE)
            all_results["runs"].append({"n": n, "idle_procs": args.idle_procs, "listener_procs": args.listener_procs,
                                        "sockets": sockets,
                                        "results": result, "failures": failures, "skipped": skipped})
        all_results["targets"] = check_targets(all_results["runs"])
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        path = os.path.join(RESULTS, "run-%s.json" % time.strftime("%Y%m%dT%H%M%S"))
        with open(path, "w") as f:
            json.dump(all_results, f, indent=1)
        print("\nresults: %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
