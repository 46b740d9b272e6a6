# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A listener for container tests, run by the host's Python bind-mounted into a busybox image.

    python3 /t/listen.py [--delay S] SPEC...    SPEC = tcp4:ADDR:PORT | tcp6:ADDR:PORT | udp4:... | udp6:...

Listens on every SPEC (after S seconds), prints READY, and serves until killed (a TCP client
gets "ok" and is closed).
"""
import select
import socket
import sys
import time


def main(argv):
    delay = 0.0
    if argv[:1] == ["--delay"]:
        delay = float(argv[1])
        argv = argv[2:]
    time.sleep(delay)
    socks = []
    for spec in argv:
        kind, rest = spec.split(":", 1)
        addr, port = rest.rsplit(":", 1)
        family = socket.AF_INET6 if kind.endswith("6") else socket.AF_INET
        stype = socket.SOCK_STREAM if kind.startswith("tcp") else socket.SOCK_DGRAM
        s = socket.socket(family, stype)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, int(port)))
        if stype == socket.SOCK_STREAM:
            s.listen(16)
        socks.append(s)
    print("READY", flush=True)
    while True:
        ready = select.select(socks, [], [], 60)[0]
        for s in ready:
            if s.type == socket.SOCK_STREAM:
                conn = s.accept()[0]
                conn.sendall(b"ok\n")
                conn.close()
            else:
                s.recvfrom(2048)


if __name__ == "__main__":
    main(sys.argv[1:])
