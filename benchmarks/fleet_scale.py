# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's controller side at scale, on one core (issue 15):

    .venv/bin/python benchmarks/fleet_scale.py [--hosts 10000] [--slices 10]

- policy evaluation alone: N hosts' facts (30 listeners, 500 connections in the compact form, 50
  UNIX sockets each, some drift) against a 50-rule policy (target: 10,000 hosts in < 10 s);
- the report of those N hosts built and rendered in the five formats;
- merging S slices of N/S hosts' report.json into one fleet report (target: 10 x 1,000 in < 10 s).

Prints wall times, per-host costs and peak RSS. Single process, so one core.
"""

import argparse
import os
import random
import resource
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), ".venv", "collections"))

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy  # noqa: E402
from ansible_collections.netaudit.netstat.plugins.module_utils._common import COMPACT_COLUMNS, empty_counts  # noqa: E402
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _fleet, _report  # noqa: E402

PROGRAMS = ["sshd", "nginx", "postgres", "redis-server", "node", "java", "chronyd", "named", "haproxy", "python3"]


def host_facts(rng, i):
    procs = [{"pid": 100 + k, "name": PROGRAMS[k % len(PROGRAMS)], "exe": "/usr/sbin/" + PROGRAMS[k % len(PROGRAMS)],
              "cmdline": PROGRAMS[k % len(PROGRAMS)] + " -c /etc/x.conf", "uid": 0, "user": "root", "unit": None,
              "container": None} for k in range(30)]
    listeners = []
    for k in range(30):
        port = 1000 + k if not (i % 17 == 0 and k == 29) else 8080  # some hosts drift
        listeners.append({"proto": "tcp" if k % 5 else "udp", "family": "ipv4", "address": "0.0.0.0", "port": port,
                          "state": "LISTEN" if k % 5 else "CLOSED", "recv_q": 0, "send_q": 0, "backlog": 128,
                          "inode": 10000 + k, "uid": 0, "user": "root", "exposure": "wildcard", "v6only": None,
                          "interface": None, "service": None, "processes": [procs[k]], "owner_unresolved": None,
                          "netns": 4026531833, "container": None})
    rows = []
    for k in range(500):
        rows.append("tcp ipv4 ESTABLISHED 10.0.0.%d %d 10.1.%d.%d 443 0 0 %d 0 %d" % (
            i % 250, 30000 + k, k % 250, rng.randint(1, 250), 20000 + k, 100 + k % 30))
    rows.sort()
    unix = [{"type": "stream", "state": "LISTENING", "flags": ["ACC"], "refcnt": 2, "inode": 50000 + k,
             "path": "/run/svc%d.sock" % k, "abstract": False, "peer": None, "recv_q": 0, "send_q": 0, "mode": "0755",
             "file_uid": 0, "processes": [procs[k % 30]], "owner_unresolved": None, "netns": 4026531833, "container": None}
            for k in range(50)]
    counts = empty_counts(("tcp", "udp", "unix"))
    counts["tcp"]["ESTABLISHED"] = 500
    counts["tcp"]["LISTEN"] = 24
    return {
        "collector": {"backend": "netlink", "complete": True, "reasons": [], "reason_codes": [], "connections": "compact",
                      "primary_netns": 4026531833, "netns_inode": 4026531833, "gathered_at": "2026-12-03T08:00:00Z"},
        "listeners": listeners,
        "connections": {"columns": list(COMPACT_COLUMNS), "count": len(rows), "rows": "\n".join(rows)},
        "processes": {str(p["pid"]): p for p in procs},
        "unix": unix,
        "counts": counts,
        "namespaces": [{"inode": 4026531833, "name": None, "primary": True, "current": True, "host": True, "containers": []}],
    }


def policy_50():
    allow = [{"proto": "tcp" if k % 5 else "udp", "port": 1000 + k, "program": PROGRAMS[k % len(PROGRAMS)]} for k in range(40)]
    return {
        "policy": "fleet", "__source__": "fleet.yml:1",
        "listeners": {"default": "deny", "allow": allow, "deny": [{"proto": "tcp", "port": 23}]},
        "states": {"tcp": {"TIME_WAIT": {"max": 20000}, "CLOSE_WAIT": {"max": 50}, "SYN_RECV": {"max": 256},
                           "ESTABLISHED": {"max": 5000}}},
        "unix": {"default": "allow", "deny": [{"path": "/var/run/docker.sock"}, {"path": "/tmp/*.sock"}],
                 "world_writable": {"allow": ["/run/svc1.sock"]}},
    }


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=10000)
    ap.add_argument("--slices", type=int, default=10)
    args = ap.parse_args()
    rng = random.Random(7)
    t0 = time.perf_counter()
    fleet = {"host%05d" % i: host_facts(rng, i) for i in range(args.hosts)}
    made = time.perf_counter() - t0
    policy = _policy.compile_policy([policy_50()])  # merged and compiled once for the fleet
    raw = policy_50()
    rules = sum(len(raw["listeners"][k]) for k in ("allow", "deny")) + len(raw["states"]["tcp"]) + 3
    t0 = time.perf_counter()
    results = {}
    for name, facts in fleet.items():
        results[name] = _policy.evaluate(facts, policy, today="2026-12-03")
    evaluated = time.perf_counter() - t0
    drift = sum(1 for r in results.values() if r["verdict"] == "drift")
    entries = {name: {"status": "ok", "verdict": r["verdict"], "counts": r["counts"], "findings": r["findings"],
                      "facts": _report.facts_summary(fleet[name])} for name, r in results.items()}
    del fleet
    t0 = time.perf_counter()
    model = _report.build_report(entries)
    work = tempfile.mkdtemp(prefix="netaudit-bench-fleet-")
    _report.write_reports(model, os.path.join(work, "full"))
    reported = time.perf_counter() - t0
    names = sorted(entries)
    per = max(1, len(names) // args.slices)
    slice_dirs = []
    for s in range(args.slices):
        part = {n: entries[n] for n in names[s * per:(s + 1) * per]}
        d = os.path.join(work, "slice%d" % s)
        os.makedirs(d)
        with open(os.path.join(d, "report.json"), "w") as f:
            f.write(_report.render_json(_report.build_report(part)))
        slice_dirs.append(d)
    t0 = time.perf_counter()
    merged = _fleet.merge_files(slice_dirs)
    _report.write_reports(merged, os.path.join(work, "merged"))
    merging = time.perf_counter() - t0
    sizes = {n: os.path.getsize(os.path.join(work, "full", n)) for n in os.listdir(os.path.join(work, "full"))
             if not n.startswith(".") and n != "latest"}
    print("%d hosts (30 listeners, 500 connections, 50 UNIX sockets each; %d drift), a %d-rule policy, one core:" % (
        args.hosts, drift, rules))
    print("  facts made in %.1f s" % made)
    print("  evaluation: %.2f s (%.2f ms per host; target 10,000 hosts < 10 s: %s)" % (
        evaluated, 1000 * evaluated / args.hosts, "met" if evaluated * 10000 / args.hosts < 10 else "MISSED"))
    print("  report built and written (5 formats): %.2f s; sizes: %s" % (
        reported, ", ".join("%s %.1f MB" % (n, sizes[n] / 1e6) for n in sorted(sizes))))
    print("  merge of %d slices of %d hosts + the five reports: %.2f s (target 10 x 1,000 < 10 s: %s)" % (
        args.slices, per, merging, "met" if merging < 10 else "MISSED"))
    print("  peak RSS %.0f MiB" % rss_mib())
    print("results in %s" % work)


if __name__ == "__main__":
    main()
