# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Opens a known set of real sockets (run inside a test network namespace), prints READY and a JSON
description of what it opened, then waits for stdin to close. Loopback only.

Sockets: TCP listeners on 127.0.0.1, ::1 (v6only), :: (dual stack) and 0.0.0.0 (shared by this
process and two forked children); UDP on 127.0.0.1 and ::1; UNIX stream, datagram and abstract
sockets; an ESTABLISHED pair with unread data (Recv-Q); a TIME_WAIT socket; a process whose comm has
spaces and non-ASCII characters.
"""
import json
import os
import socket
import sys
import time

base = int(sys.argv[1]) if len(sys.argv) > 1 else 7000
tmpdir = sys.argv[2] if len(sys.argv) > 2 else "/tmp"
info = {"pid": os.getpid(), "children": [], "ports": {}}


def listen(family, addr, port, backlog=16, v6only=None):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1 if v6only else 0)
    s.bind((addr, port))
    s.listen(backlog)
    return s


keep = []
shared = listen(socket.AF_INET, "0.0.0.0", base + 4)

# A socket held by this process and two children.
r, w = os.pipe()
for i in range(2):
    pid = os.fork()
    if pid == 0:
        os.close(w)
        if i == 0:
            with open("/proc/self/comm", "w") as f:
                f.write("nét srv x")
        os.read(r, 1)  # returns when the parent exits
        os._exit(0)
    info["children"].append(pid)
os.close(r)

keep.append(listen(socket.AF_INET, "127.0.0.1", base + 1, backlog=17))
keep.append(listen(socket.AF_INET6, "::1", base + 2, v6only=True))
keep.append(listen(socket.AF_INET6, "::", base + 3, v6only=False))

u4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u4.bind(("127.0.0.1", base + 5))
u6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
u6.bind(("::1", base + 6))
keep += [u4, u6]

stream_path = os.path.join(tmpdir, "netaudit-stream.sock")
dgram_path = os.path.join(tmpdir, "netaudit-dgram.sock")
for p in (stream_path, dgram_path):
    if os.path.exists(p):
        os.unlink(p)
us = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
us.bind(stream_path)
us.listen(5)
ud = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
ud.bind(dgram_path)
ua = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
abstract = "netaudit-abstract-%d" % os.getpid()
ua.bind("\0" + abstract)
ua.listen(3)
keep += [us, ud, ua]
info["unix"] = {"stream": stream_path, "dgram": dgram_path, "abstract": "@" + abstract}

# ESTABLISHED pair with 100 unread bytes on the server side.
client = socket.create_connection(("127.0.0.1", base + 1))
server, dummy = keep[0].accept()
client.sendall(b"x" * 100)
keep += [client, server]
info["established"] = {"client_port": client.getsockname()[1], "recv_q": 100}

# TIME_WAIT: the client closes first.
c2 = socket.create_connection(("127.0.0.1", base + 1))
s2, dummy = keep[0].accept()
tw_port = c2.getsockname()[1]
c2.close()
time.sleep(0.05)
s2.close()
info["time_wait_port"] = tw_port

info["ports"] = {
    "tcp4_loopback": base + 1,
    "tcp6_loopback": base + 2,
    "tcp_dual": base + 3,
    "tcp4_shared": base + 4,
    "udp4": base + 5,
    "udp6": base + 6,
}
time.sleep(0.1)
sys.stdout.write("READY " + json.dumps(info) + "\n")
sys.stdout.flush()
sys.stdin.read()
