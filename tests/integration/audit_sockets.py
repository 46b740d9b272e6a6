# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Opens the sockets of an audit scenario (run inside a test network namespace), prints READY and a
JSON map of service name -> pid, then waits for stdin to close.

argv[1] is a JSON list of services, started in order, each in its own process named `name` (comm):
  {"name": "nginx", "user": 65534 (optional: setuid before opening sockets),
   "tcp": [[addr, port, {"backlog": 16, "accept": true}], ...],   accept: accept and hold connections
   "udp": [[addr, port], ...],
   "unix": [[path, "0777"], ...],
   "connect": [[addr, port, {"count": 1, "send": 0, "close": false}], ...]}
"""
import json
import os
import socket
import sys
import threading
import time


def run_service(svc, ready_w, stop_r):
    with open("/proc/self/comm", "w") as f:
        f.write(svc["name"][:15])
    if svc.get("user") is not None:
        os.setgid(svc["user"])
        os.setuid(svc["user"])
    keep = []
    for addr, port, *opts in svc.get("tcp", []):
        opts = opts[0] if opts else {}
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(opts.get("backlog", 16))
        keep.append(s)
        if opts.get("accept", True):
            def acceptor(sock=s):
                while True:
                    conn, dummy = sock.accept()
                    keep.append(conn)  # hold it: never read, never close
            threading.Thread(target=acceptor, daemon=True).start()
    for addr, port in svc.get("udp", []):
        s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((addr, port))
        keep.append(s)
    for path, mode in svc.get("unix", []):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        os.chmod(path, int(mode, 8))
        s.listen(4)
        keep.append(s)
    for addr, port, *opts in svc.get("connect", []):
        opts = opts[0] if opts else {}
        for _i in range(opts.get("count", 1)):
            c = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_STREAM)
            c.setblocking(True)
            c.connect((addr, port))
            if opts.get("send"):
                c.setblocking(False)
                try:
                    c.send(b"x" * opts["send"])
                except BlockingIOError:
                    pass
            if opts.get("close"):
                c.close()
            else:
                keep.append(c)
    time.sleep(0.2)  # let handshakes, FINs and data settle before the gather
    os.write(ready_w, b"1")
    os.read(stop_r, 1)  # returns when the parent exits
    os._exit(0)


def main():
    services = json.loads(sys.argv[1])
    stop_r, stop_w = os.pipe()
    pids = {}
    for svc in services:
        ready_r, ready_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(stop_w)
            os.close(ready_r)
            try:
                run_service(svc, ready_w, stop_r)
            except BaseException as exc:  # noqa: BLE001 - report, then exit the child
                sys.stderr.write("%s: %r\n" % (svc["name"], exc))
                os._exit(1)
        os.close(ready_w)
        if os.read(ready_r, 1) != b"1":
            print("FAILED %s" % svc["name"], flush=True)
            sys.exit(1)
        os.close(ready_r)
        pids[svc["name"]] = pid
    print("READY " + json.dumps(pids), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
