# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """The options of netaudit.netstat.netstat_facts (their argument spec is
    module_utils/_gather.ARGUMENT_SPEC). They live here, not in the module's DOCUMENTATION, because
    Ansible ships the module file to the host on every run (with pipelining Python reads it from
    its standard input: one byte per read(2) where PYTHONUNBUFFERED is set, ~0.6 ms per kB on a
    2-core VM) and ansible-doc merges a fragment on the controller: the docs are the same, the
    module ~4 kB smaller."""

    DOCUMENTATION = r"""
options:
  protocols:
    description:
      - Socket tables to read, like C(netstat -t -u -x).
    type: list
    elements: str
    choices: [tcp, udp, unix]
    default: [tcp, udp, unix]
  families:
    description:
      - Address families of TCP and UDP sockets to read (C(netstat -4 -6)).
    type: list
    elements: str
    choices: [ipv4, ipv6]
    default: [ipv4, ipv6]
  connections:
    description:
      - How much of the non-listening TCP and UDP sockets to return. Listeners are always listed
        in full, and RV(ansible_facts.netstat.counts) always covers every socket.
      - V(none) and V(counts) return no RV(ansible_facts.netstat.connections) key (C(netstat -l)).
      - V(summary) groups connections by protocol, family, state, local listening port and remote
        address, with a count.
      - V(full) returns one dictionary per socket (C(netstat -a)); costly through Ansible on busy
        hosts.
      - V(compact) returns the same data as V(full) as C(columns), C(count) and C(rows), one text
        block with a line per socket of space-separated values (C(-) for none, owner pids
        comma-separated, pointing into RV(ansible_facts.netstat.processes)); cheap at 100k sockets.
    type: str
    choices: [none, counts, summary, full, compact]
    default: counts
  unix:
    description:
      - Which UNIX domain sockets to list in RV(ansible_facts.netstat.unix). Counts cover all of
        them whatever this says.
      - V(bound) lists sockets with a path or an abstract name, V(listening) only listening ones,
        V(all) every one (C(netstat -ax)), V(none) none.
    type: str
    choices: [none, listening, bound, all]
    default: bound
  owners:
    description:
      - Resolve the processes holding each listed socket (C(netstat -p)), by one walk of
        C(/proc/PID/fd).
    type: bool
    default: true
  owner_scan:
    description:
      - How far the walk of C(/proc/PID/fd) goes when O(owners=true).
      - V(until_found) reads the first 64 descriptors of every process, then the rest of each
        process only while some listed socket still has no owner, and after that only children
        of the owners found. Sockets shared by fork (a master and its workers, socket activation)
        still list every holder. A socket handed to an unrelated process over a UNIX socket, at a
        high descriptor number, is then listed without that process.
      - V(all) reads every descriptor of every process, as C(ss -p) does.
      - With O(connections=full) or O(connections=compact) nearly every socket is listed, so every
        descriptor is read whatever this says, by up to 4 threads (no more than the CPUs this
        process may use); a process holding more than 1024 descriptors is shared out between them.
    type: str
    choices: [until_found, all]
    default: until_found
  namespaces:
    description:
      - Which network namespaces to read.
      - V(current) (the default) reads the namespace the module runs in, as C(netstat) and C(ss) do.
      - V(all) reads every network namespace of the host as well, those of its processes
        (C(/proc/PID/ns/net)) and those pinned without one (C(ip netns add) names under
        C(/run/netns), Docker's sandboxes, any C(nsfs) mount). The containers' own listeners are
        then in the facts.
      - A list of selectors reads just those, in that order - V(container:NAME) (a container name,
        id or id prefix, through the runtime's API or the cgroups of its processes), V(pid:N) (the
        namespace of process N), V(host) (that of pid 1), V(current), a C(/run/netns) name, or a
        namespace inode. A single selector may be given as a string.
      - Every socket carries the inode of its namespace (C(netns)); RV(ansible_facts.netstat.namespaces)
        describes each one read (name, containers, how it was read, whether completely, its counts).
        The counts at the top are those of the primary namespace (the current one for V(current) and
        V(all), else the first selector), and so are the rules of a policy that name no C(netns),
        C(container) or C(image).
      - A foreign namespace is read by a thread that enters it with setns(2) (root, or
        CAP_SYS_ADMIN) and does nothing else; without that right, through C(/proc/PID/net) of a
        process in it. A selector that names nothing, or a namespace that cannot be read, makes the
        facts incomplete (RV(ansible_facts.netstat.collector.reasons)).
    type: raw
    default: current
  container_runtime:
    description:
      - V(auto) asks the Docker-compatible runtime API (Docker, or podman's service) on the
        sockets of O(container_sockets) for the names, images and published ports of the running
        containers, when some owner is in a container or other namespaces are read. The container
        id of a process comes from its cgroup in any case.
      - V(none) never asks. Containers are then known by id only, and RV(ansible_facts.netstat.published)
        is absent.
    type: str
    choices: [auto, none]
    default: auto
  container_sockets:
    description:
      - The UNIX sockets of the runtime APIs that O(container_runtime=auto) reads, in order; those
        that do not exist are passed over.
    type: list
    elements: path
    default: [/var/run/docker.sock, /run/podman/podman.sock]
  services:
    description:
      - Resolve listener ports to service names from the services database (C(/etc/services)).
        Numeric output (C(netstat -n)) is the default.
    type: bool
    default: false
  samples:
    description:
      - Number of samples to take, O(interval) seconds apart (C(netstat -c)). With more than one,
        RV(ansible_facts.netstat.counts_stats) gives min, max and last of each state count; the
        socket lists come from the last sample.
    type: int
    default: 1
  interval:
    description:
      - Seconds between two samples.
    type: float
    default: 1.0
  backend:
    description:
      - How to read the socket tables.
      - V(netlink) asks the kernel through C(NETLINK_SOCK_DIAG) (fastest; filters in the kernel).
      - V(procfs) parses C(/proc/net/{tcp,tcp6,udp,udp6,unix}).
      - V(psutil) uses the psutil library where it is installed, for platforms without C(/proc);
        it gives no queues, inodes or socket uids.
      - V(auto) takes the first of netlink, procfs, psutil that can run and says which in
        RV(ansible_facts.netstat.collector.backend), and why the others were skipped.
      - A backend named explicitly that cannot run fails the task.
    type: str
    choices: [auto, netlink, procfs, psutil]
    default: auto
  proc_root:
    description:
      - Where procfs is mounted. Meant for tests that point the module at a fixture tree; only
        the V(procfs) backend (and owner resolution) read it.
    type: path
    default: /proc
"""
