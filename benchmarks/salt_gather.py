# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""salt_gather: `salt-call --local netstat.facts` against Salt's own `network.netstat`, side by
side in one run, on the same sockets (issue 16).

    sudo .venv/bin/python benchmarks/salt_gather.py [--connections 1000] [--listeners 20] [--repeat 7]

Builds one network namespace with a load process holding C loopback TCP connections (both ends:
2C sockets) and L listener processes, makes a masterless minion under a temporary directory
(the repository's salt/ as its file_roots, synced once), then times whole `salt-call --local`
processes in that namespace, in rotating order:

- `test.ping`: what any salt-call costs (start-up, loader), the floor under both;
- `network.netstat`: Salt's own, which runs `netstat -tulpnea` (or `ss`) and parses its text;
- `netstat.facts`: this collection's gather with its defaults (listeners with owners, counts,
  UNIX sockets);
- `netstat.facts connections=full`: every connection listed, like network.netstat's output;
- `netstat.audit`: the gather plus the default policy's evaluation.

Prints medians, each row's ratio to network.netstat and its cost above test.ping (the part that
is the gather itself). The machine is noisy: differences of a few percent mean nothing.
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
SALT_CALL = os.path.join(REPO, ".venv-salt", "bin", "salt-call")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--listeners", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (ip netns)")
    if not os.path.exists(SALT_CALL):
        sys.exit("Salt is not installed in .venv-salt: NETAUDIT_WITH_SALT=1 bash scripts/setup.sh")
    name = "nasb-%s" % uuid.uuid4().hex[:6]
    work = tempfile.mkdtemp(prefix="netaudit-bench-salt-")
    loads = []
    try:
        conf = os.path.join(work, "etc")
        os.makedirs(conf)
        with open(os.path.join(conf, "minion"), "w") as f:
            f.write("id: bench\nroot_dir: %s\nfile_client: local\nfile_roots:\n  base:\n    - %s\nlog_level_logfile: warning\n"
                    % (os.path.join(work, "root"), os.path.join(REPO, "salt")))
        subprocess.run(["ip", "netns", "add", name], check=True)
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        for argv in (["7000", str(args.connections), "0", "0", "0"], ["--listeners", "8000", str(args.listeners)]):
            p = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, os.path.join(HERE, "load_worker.py")] + argv,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            loads.append(p)
            line = p.stdout.readline()
            if not line.startswith("READY"):
                raise SystemExit("a load process did not start: %r" % line)
        call = ["ip", "netns", "exec", name, SALT_CALL, "-c", conf, "--local", "--out", "json"]
        sync = subprocess.run(call + ["saltutil.sync_all"], capture_output=True, text=True, check=False)
        if sync.returncode != 0:
            raise SystemExit("saltutil.sync_all failed: %s" % sync.stderr[-2000:])
        rows = {
            "test.ping (salt-call start-up)": ["test.ping"],
            "network.netstat (Salt's own)": ["network.netstat"],
            "netstat.facts (defaults)": ["netstat.facts"],
            "netstat.facts connections=full": ["netstat.facts", "connections=full"],
            "netstat.audit (default policy)": ["netstat.audit"],
        }
        times = {k: [] for k in rows}
        sizes = {}
        order = list(rows)
        for r in range(args.repeat):
            for row in order[r % len(order):] + order[:r % len(order)]:
                t0 = time.perf_counter()
                res = subprocess.run(call + rows[row], capture_output=True, text=True, check=False)
                times[row].append(time.perf_counter() - t0)
                if res.returncode not in (0, 1, 3) or not res.stdout.strip():
                    raise SystemExit("%s failed (%d): %s" % (row, res.returncode, res.stderr[-2000:]))
                json.loads(res.stdout)  # the return is there and whole
                sizes[row] = len(res.stdout)
        med = {k: statistics.median(v) for k, v in times.items()}
        version = subprocess.run([SALT_CALL, "--version"], capture_output=True, text=True, check=False).stdout.strip()
        print("salt_gather: %s; %d loopback connections (%d sockets) + %d listener processes in one namespace; "
              "%d rounds, medians; machine: %s, %d cores" % (
                  version, args.connections, 2 * args.connections + 1, args.listeners, args.repeat,
                  os.uname().machine, os.cpu_count()))
        ping = med[order[0]]
        ref = med[order[1]]
        print("  %-36s %9s %10s %12s %10s" % ("", "median s", "/ netstat", "above ping", "output"))
        for row in rows:
            print("  %-36s %9.3f %10.2f %11.3fs %9dB" % (row, med[row], med[row] / ref, med[row] - ping, sizes[row]))
        print("netstat.facts / network.netstat: %.2f; above start-up: %.3f s against %.3f s (network.netstat lists "
              "every socket as text fields, no UNIX sockets, owners only from netstat -p)" % (
                  med[order[2]] / ref, med[order[2]] - ping, ref - ping))
    finally:
        for p in loads:
            try:
                p.stdin.close()
                p.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                p.kill()
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (OSError, ValueError):
                pass
        subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
