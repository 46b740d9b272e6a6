# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gathers while sockets and processes churn (processes exit mid-walk, fds close mid-read): every
gather succeeds on every backend, and the long-lived listener is there with both of its owners."""
import json
import os
import subprocess

from netns_helpers import PYTHON, REPO

CHURN = os.path.join(REPO, "tests", "integration", "churn.py")
GATHER_LOOP = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
from ansible_collections.netaudit.netstat.plugins.module_utils import _gather
port, seconds = int(sys.argv[2]), float(sys.argv[3])
backends = ["netlink", "procfs", "psutil"]
out = {b: {"gathers": 0, "failures": [], "owners": []} for b in backends}
deadline = time.time() + seconds
i = 0
while time.time() < deadline:
    b = backends[i % 3]
    i += 1
    try:
        facts = _gather.gather(_gather.Options(backend=b, connections="compact" if i % 2 else "counts", unix="all"))
        json.dumps(facts)
        lst = [x for x in facts["listeners"] if x["port"] == port]
        out[b]["owners"].append(sorted(p["pid"] for p in lst[0]["processes"]) if lst else None)
        out[b]["gathers"] += 1
    except Exception as exc:
        out[b]["failures"].append("%s: %s" % (type(exc).__name__, exc))
print(json.dumps(out))
"""


def test_gathers_during_churn(netns):
    seconds = 12.0
    port = 7444
    proc, rest = netns.start([PYTHON, CHURN, str(seconds), str(port)])
    pids = json.loads(rest)["pids"]
    collections = os.path.join(REPO, ".venv", "collections")
    res = subprocess.run(netns.cmd([PYTHON, "-c", GATHER_LOOP, collections, str(port), str(seconds - 1)]),
                         capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout)
    total = sum(v["gathers"] for v in out.values())
    print("race: %d gathers during %.0f s of churn: %s" % (total, seconds, {b: v["gathers"] for b, v in out.items()}))
    for backend, v in out.items():
        assert v["failures"] == [], (backend, v["failures"][:3])
        assert v["gathers"] >= 3, (backend, v["gathers"])
        # churn children are forked with the listener open: they hold it too, for their short life
        assert all(o is not None and set(pids) <= set(o) for o in v["owners"]), (backend, pids, v["owners"][:3])
