# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Load and evaluate a policy at the size limit (1 MiB of named rules), and the same rules
unnamed, side by side in one run; print the times and the ratio to parsing the same text with
PyYAML alone (what any YAML-reading tool pays). The machine is noisy: medians of --repeat runs."""
import argparse
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), ".venv", "collections"))

import yaml  # noqa: E402

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy  # noqa: E402
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _policy_loader  # noqa: E402


def policy_text(named, limit=_policy_loader.MAX_BYTES - 256):
    lines = ["policy: big", "listeners:", "  default: deny", "  allow:"]
    size = sum(len(line) + 1 for line in lines)
    i = 0
    while True:
        name = "name: rule-%d, " % i if named else ""
        line = "    - {%sproto: tcp, port: %d, program: prog%d, user: root}" % (name, 1 + i % 65000, i)
        if size + len(line) + 1 > limit:
            break
        lines.append(line)
        size += len(line) + 1
        i += 1
    return "\n".join(lines) + "\n", i


def facts(n=30):
    return {
        "collector": {"complete": True, "owners": True},
        "listeners": [{"proto": "tcp", "family": "ipv4", "address": "0.0.0.0", "port": p, "uid": 0, "user": "root",
                       "processes": [{"pid": p, "name": "prog%d" % p, "uid": 0, "user": "root"}]} for p in range(1, n + 1)],
        "counts": {"tcp": {"LISTEN": n}},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    fx = facts()
    tmp = tempfile.mkdtemp(prefix="netaudit-policy-scale-")
    print("machine: %d CPUs, load %s" % (os.cpu_count() or 0, " ".join("%.2f" % x for x in os.getloadavg())))
    for named in (True, False):
        text, rules = policy_text(named)
        path = os.path.join(tmp, "big.yml")
        with open(path, "w") as f:
            f.write(text)
        loads, evals, plain = [], [], []
        for _round in range(args.repeat):
            t = time.perf_counter()
            yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            loaded = _policy_loader.load_policies([path])
            loads.append(time.perf_counter() - t)
            t = time.perf_counter()
            _policy.evaluate(fx, loaded.layers, today="2026-06-01")
            evals.append(time.perf_counter() - t)
        load, ev, yl = statistics.median(loads), statistics.median(evals), statistics.median(plain)
        print("%-7s %6d rules %8d bytes: load %.2f s + evaluate %.2f s = %.2f s (target < 2 s: %s); "
              "yaml.load alone %.2f s, load/yaml.load %.1fx"
              % ("named" if named else "unnamed", rules, len(text), load, ev, load + ev,
                 "met" if load + ev < 2 else "MISSED", yl, load / yl if yl else 0))
    os.remove(path)
    os.rmdir(tmp)


if __name__ == "__main__":
    main()
