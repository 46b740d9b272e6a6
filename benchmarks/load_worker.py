# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One load process of the benchmark scenario (run inside the benchmark namespace).

    load_worker.py PORT CONNECTIONS TIME_WAIT UDP UNIX_PAIRS
    load_worker.py --listeners FIRST_PORT COUNT

Listens on 127.0.0.1:PORT, opens CONNECTIONS loopback TCP connections to itself (both ends held:
2 sockets, 2 fds each), leaves TIME_WAIT client sockets behind, binds UDP sockets and opens UNIX
socket pairs; prints READY and holds everything until stdin closes.

With --listeners it forks COUNT small servers instead, each its own process listening on
127.0.0.1:FIRST_PORT+i (the many-processes variant: a host running many daemons); they exit
when stdin closes.
"""

import os
import resource
import socket
import sys


def listeners(first_port, count):
    children = []
    for i in range(count):
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", first_port + i))
        lst.listen(16)
        pid = os.fork()
        if pid == 0:
            try:
                sys.stdin.read()  # EOF when the runner closes the pipe
            finally:
                os._exit(0)
        lst.close()
        children.append(pid)
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    sys.stdin.read()
    for pid in children:
        os.waitpid(pid, 0)


def main():
    if sys.argv[1:2] == ["--listeners"]:
        listeners(int(sys.argv[2]), int(sys.argv[3]))
        return
    port, conns, time_wait, udp, unix_pairs = (int(a) for a in sys.argv[1:6])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = 2 * conns + udp + 2 * unix_pairs + 64
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))
    keep = []
    lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen(4096)
    keep.append(lst)
    for _i in range(time_wait):
        c = socket.create_connection(("127.0.0.1", port))
        s, _addr = lst.accept()
        c.close()  # the client closes first: it goes to TIME_WAIT
        s.close()
    for i in range(conns):
        c = socket.create_connection(("127.0.0.1", port))
        s, _addr = lst.accept()
        if i % 10 == 0:
            c.sendall(b"q" * 64)  # some unread data: non-zero Recv-Q
        keep.append(c)
        keep.append(s)
    for _i in range(udp):
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        keep.append(u)
    for _i in range(unix_pairs):
        keep.extend(socket.socketpair())
    sys.stdout.write("READY %d\n" % os.getpid())
    sys.stdout.flush()
    sys.stdin.read()


if __name__ == "__main__":
    main()
