# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""namespaces: all against a loop of `nsenter … ss -tuanp`, side by side in one run (issue 12).

    sudo .venv/bin/python benchmarks/namespaces.py [--namespaces 50] [--connections 1000] [--repeat 5]

Builds K network namespaces (`ip netns add`), each with a load process holding C loopback TCP
connections (both ends: 2C sockets) plus its listener, then times, as whole processes and in
rotating order:

- `nsenter loop`: one shell running `nsenter --net=/run/netns/X ss -tuanp` for every namespace,
  what a user scripts today to see every namespace with owners;
- `gather all`: `_gather.gather(namespaces=all, protocols=[tcp, udp], connections=compact)` and
  its JSON, i.e. every TCP/UDP socket of every namespace with its owners, like the loop;
- `gather current (now)` and `gather current (base)`: the default gather in one loaded namespace,
  with this checkout's code and with the code of a base commit (`--base`, default the commit
  before namespaces existed), to show the default costs what it did.

Prints medians, the ratio gather all / nsenter loop (target <= 0.5) and now / base for the
default (target: about 1.0; the machine is noisy, so a margin of a few percent means nothing).
Everything it makes is removed at the end.
"""

import argparse
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
BASE = "5188976"  # the last commit before the namespaces option
GATHER = (
    "import json, sys\n"
    "sys.path.insert(0, sys.argv[1])\n"
    "from ansible_collections.netaudit.netstat.plugins.module_utils import _gather as G\n"
    "kw = json.loads(sys.argv[2])\n"
    "facts = G.gather(G.Options(**kw))\n"
    "sys.stdout.write(json.dumps({'listeners': len(facts['listeners']), 'spaces': len(facts.get('namespaces') or [1]),"
    " 'rows': (facts.get('connections') or {}).get('count') if isinstance(facts.get('connections'), dict) else None,"
    " 'complete': facts['collector']['complete']}))\n"
)


def collection_root(tree, dest):
    """dest/ansible_collections/netaudit/netstat -> tree (a directory with plugins/)."""
    coll = os.path.join(dest, "ansible_collections", "netaudit")
    os.makedirs(coll)
    os.symlink(tree, os.path.join(coll, "netstat"))
    return dest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--namespaces", type=int, default=50)
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--base", default=BASE)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (ip netns, nsenter)")
    tag = "natb-%s" % uuid.uuid4().hex[:4]
    names = ["%s-%d" % (tag, i) for i in range(args.namespaces)]
    work = tempfile.mkdtemp(prefix="netaudit-bench-ns-")
    loads = []
    try:
        base_tree = os.path.join(work, "base")
        os.makedirs(base_tree)
        arch = subprocess.run(["git", "-C", REPO, "archive", args.base, "plugins"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", base_tree], input=arch, check=True)
        now_root = collection_root(REPO, os.path.join(work, "now"))
        base_root = collection_root(base_tree, os.path.join(work, "baseroot"))
        subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(REPO, "plugins"), base_tree], check=True)
        for name in names:
            subprocess.run(["ip", "netns", "add", name], check=True)
            subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
            p = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, os.path.join(HERE, "load_worker.py"),
                                  "7000", str(args.connections), "0", "0", "0"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            loads.append(p)
        for p in loads:
            line = p.stdout.readline()
            if not line.startswith("READY"):
                raise SystemExit("a load process did not start: %r" % line)
        loop = "for n in %s; do nsenter --net=/run/netns/$n ss -tuanp > /dev/null; done" % " ".join(names)
        gather_all = json.dumps({"namespaces": "all", "protocols": ["tcp", "udp"], "connections": "compact"})
        default = json.dumps({})
        in_first = ["ip", "netns", "exec", names[0], sys.executable, "-c", GATHER]
        rows = {
            "nsenter loop (ss -tuanp per namespace)": ["bash", "-c", loop],
            "gather all (namespaces=all, tcp+udp, owners, compact)": [sys.executable, "-c", GATHER, now_root, gather_all],
            "gather current (now), in one loaded namespace": in_first + [now_root, default],
            "gather current (base %s), same namespace" % args.base: in_first + [base_root, default],
        }
        times = {k: [] for k in rows}
        outputs = {}
        order = list(rows)
        for r in range(args.repeat):
            for name in order[r % len(order):] + order[:r % len(order)]:
                t0 = time.perf_counter()
                res = subprocess.run(rows[name], capture_output=True, text=True, check=False)
                times[name].append(time.perf_counter() - t0)
                if res.returncode != 0:
                    raise SystemExit("%s failed: %s" % (name, res.stderr[-2000:]))
                outputs[name] = res.stdout.strip()
        print("%d namespaces x %d loopback connections (%d sockets each), %d rounds, medians:" % (
            args.namespaces, args.connections, 2 * args.connections + 1, args.repeat))
        med = {k: statistics.median(v) for k, v in times.items()}
        for name in rows:
            print("  %-62s %8.3f s   %s" % (name, med[name], outputs[name][:100] if "gather" in name else ""))
        keys = list(rows)
        ratio = med[keys[1]] / med[keys[0]]
        print("gather all / nsenter loop: %.2f (target <= 0.5: %s)" % (ratio, "met" if ratio <= 0.5 else "MISSED"))
        same = med[keys[2]] / med[keys[3]]
        print("default gather now / base: %.2f (target about 1.0; noise on this machine is a few percent)" % same)
        sockets = [p for p in ("/var/run/docker.sock", "/run/podman/podman.sock") if os.path.exists(p)]
        if sockets:
            print("note: %s exists here, so the default gather of this checkout also asks the runtime for the ports it "
                  "publishes (the base did not); stop the daemon to compare like with like" % ", ".join(sockets))
        got = json.loads(outputs[keys[1]])
        if got["spaces"] < args.namespaces + 1:
            print("WARNING: gather all saw %d namespaces, expected at least %d" % (got["spaces"], args.namespaces + 1))
    finally:
        for p in loads:
            try:
                p.stdin.close()
                p.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                p.kill()
        for name in names:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
