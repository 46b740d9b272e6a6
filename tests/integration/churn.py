# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run inside a test network namespace: a long-lived listener shared by two processes (parent and
forked child), and for `seconds` a churn of short-lived processes that open listeners, connect
to them over loopback and exit. Prints READY <json> once the long-lived listener is up; stops by
itself (bounded in time and count)."""
import json
import os
import socket
import sys
import time

seconds = float(sys.argv[1])
port = int(sys.argv[2])
keep = socket.socket()
keep.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
keep.bind(("127.0.0.1", port))
keep.listen(64)
child = os.fork()
if child == 0:
    time.sleep(seconds + 30)
    os._exit(0)
print("READY " + json.dumps({"pids": sorted([os.getpid(), child])}), flush=True)
deadline = time.time() + seconds
spawned = 0
while time.time() < deadline and spawned < 5000:
    pid = os.fork()
    if pid == 0:
        try:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(4)
            c = socket.create_connection(s.getsockname(), timeout=1)
            a = s.accept()[0]
            u = socket.socket(socket.AF_UNIX)
            u.bind("\0churn-%d" % os.getpid())
            time.sleep(0.01)
            for x in (a, c, s, u):
                x.close()
        finally:
            os._exit(0)
    spawned += 1
    if spawned % 8 == 0:
        while True:
            try:
                if os.waitpid(-1, os.WNOHANG) == (0, 0):
                    break
            except ChildProcessError:
                break
    time.sleep(0.005)
sys.stdin.read()
os.kill(child, 9)
