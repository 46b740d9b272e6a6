# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in service for the fleet tests: takes a process name (set with prctl, so netstat and the
facts see it as that program) and the sockets to open, prints READY once they are open, and holds
them until stdin closes. Extra arguments are ignored: they are there to make the command line
whatever the test needs (hostile text included).

    fleet_service.py NAME '[["tcp", "0.0.0.0", 22], ["udp", "127.0.0.1", 323]]' [ignored ...]
"""

import ctypes
import json
import socket
import sys

PR_SET_NAME = 15


def main():
    name, specs = sys.argv[1], json.loads(sys.argv[2])
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode("utf-8")[:15]), 0, 0, 0)
    sockets = []
    for proto, address, port in specs:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
        sock = socket.socket(family, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((address, port))
        if proto == "tcp":
            sock.listen(16)
        sockets.append(sock)
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    sys.stdin.read()
    for sock in sockets:
        sock.close()


if __name__ == "__main__":
    main()
