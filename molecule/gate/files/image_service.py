# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A stand-in service of a server image for the molecule gate scenarios: renames itself (prctl,
so the facts see that program), opens the sockets given as JSON, writes its pid and runs until
killed.

    image_service.py NAME PIDFILE '[["tcp", "0.0.0.0", 22], ["udp", "127.0.0.1", 323]]'
"""

import ctypes
import json
import os
import signal
import socket
import sys


def main():
    name, pidfile, specs = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    # Leave the Ansible worker's process group: at the end of a run ansible-playbook may
    # SIGTERM the whole group of a worker that is still alive, and the service with it.
    try:
        os.setsid()
    except OSError:
        pass  # already a session leader (started with setsid)
    ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name.encode("utf-8")[:15]), 0, 0, 0)
    held = []
    for proto, address, port in specs:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # beside 0.0.0.0, like sshd
        sock.bind((address, port))
        if proto == "tcp":
            sock.listen(16)
        held.append(sock)
    with open(pidfile, "w") as f:
        f.write("%d\n" % os.getpid())
    signal.signal(signal.SIGTERM, lambda *_args: sys.exit(0))
    while True:
        signal.pause()


if __name__ == "__main__":
    main()
