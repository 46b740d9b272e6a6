#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: netstat_facts
short_description: Socket facts, C(netstat -anp) as data
version_added: 0.1.0
description:
  - Gathers the host's TCP, UDP and UNIX domain sockets with their owning processes and returns
    them under one key, RV(ansible_facts.netstat).
  - TCP listeners and bound, unconnected UDP sockets are listed with their owners and an
    exposure class. Other connections are counted per state by default; the full list is an
    opt-in (O(connections)), so a host with 100k connections does not push 100k entries into the
    fact cache unless asked.
  - Needs nothing but the Python standard library on Linux. Owners of sockets held by other
    users' processes can only be read as root; without them the facts say
    RV(ansible_facts.netstat.collector.complete=false) and why.
author:
  - netaudit developers (@netaudit)
extends_documentation_fragment:
  - netaudit.netstat.attributes
  - netaudit.netstat.attributes.facts
  # the options (ansible-doc shows them here): kept out of this file, which every run ships to the host
  - netaudit.netstat.netstat_facts_options
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
notes:
  - A UDP socket is reported as a listener when it is bound, has no peer and its port is outside
    the kernel's ephemeral range (C(net.ipv4.ip_local_port_range)); unconnected UDP sockets have
    state V(CLOSED) (C(ss) says C(UNCONN)).
  - The kernel's C(NEW_SYN_RECV) request sockets count as V(SYN_RECV).
  - The module reads the socket tables of the network namespace it runs in.
seealso:
  - module: netaudit.netstat.netstat_audit
  - module: community.general.listen_ports_facts
"""

EXAMPLES = r"""
- name: Gather socket facts
  netaudit.netstat.netstat_facts:

- name: Show the listeners
  ansible.builtin.debug:
    var: ansible_facts.netstat.listeners

- name: Listeners reachable from outside
  ansible.builtin.debug:
    msg: "{{ ansible_facts.netstat.listeners | rejectattr('exposure', 'eq', 'loopback') | map(attribute='port') | list }}"

- name: Everything, netstat -anp style, compact enough for 100k sockets
  netaudit.netstat.netstat_facts:
    connections: compact
    unix: all

- name: Established connections to port 443, from the compact rows
  ansible.builtin.debug:
    msg: "{{ ansible_facts.netstat.connections.rows.splitlines() | select('search', ' ESTABLISHED [^ ]+ 443 ') | list }}"

- name: TIME_WAIT counts over five samples, one second apart (netstat -c)
  netaudit.netstat.netstat_facts:
    protocols: [tcp]
    samples: 5
    interval: 1

- name: Fail when owners could not be resolved
  ansible.builtin.assert:
    that: ansible_facts.netstat.collector.complete
    fail_msg: "{{ ansible_facts.netstat.collector.reasons | join('; ') }}"
"""

RETURN = r"""
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: complex
  contains:
    netstat:
      description: Socket facts of the host. See C(docs/facts.md) in the collection.
      returned: always
      type: complex
      contains:
        collector:
          description: How the facts were gathered and whether they are complete.
          returned: always
          type: complex
          contains:
            backend:
              description: The backend that ran.
              type: str
              returned: always
              sample: netlink
            backends_tried:
              description: Backends that V(auto) skipped, each with C(name) and C(reason).
              type: list
              elements: dict
              returned: always
            complete:
              description: False when some owners could not be resolved or some table lines
                could not be parsed; RV(ansible_facts.netstat.collector.reasons) says why.
              type: bool
              returned: always
            reasons:
              description: Why the facts are not complete.
              type: list
              elements: str
              returned: always
            reason_codes:
              description:
                - One code per reason, V(owners-unresolved) (the sockets concerned carry
                  C(owner_unresolved)) or V(malformed-lines).
              type: list
              elements: str
              returned: always
            uninspected:
              description:
                - The processes whose descriptors could not be read (at most 100), each with
                  C(pid), C(name), C(uid), C(user), C(cause) and C(detail).
                - C(cause) is V(not-root), V(hidepid), V(capabilities) (root, but the process
                  holds capabilities the gatherer lacks), V(user-namespace), V(lsm) or V(vanished).
              type: list
              elements: dict
              returned: always
            uninspected_count:
              description: How many processes could not be inspected.
              type: int
              returned: always
            warnings:
              description: Things worth knowing, such as skipped malformed lines (file:line).
              type: list
              elements: str
              returned: always
            duration:
              description: Seconds the gather took.
              type: float
              returned: always
            samples:
              description: Number of samples taken.
              type: int
              returned: always
            interval:
              description: Seconds between samples.
              type: float
              returned: always
            netns:
              description: The network namespace read, as C(readlink /proc/self/ns/net) shows it.
              type: str
              returned: always
              sample: "net:[4026531840]"
            is_root:
              description: Whether the module ran as root.
              type: bool
              returned: always
            owners:
              description: Whether owners were resolved (O(owners)).
              type: bool
              returned: always
            connections:
              description: The O(connections) mode used.
              type: str
              returned: always
            unix:
              description: The O(unix) mode used.
              type: str
              returned: always
            protocols:
              description: The O(protocols) read.
              type: list
              elements: str
              returned: always
            owner_scan:
              description: The O(owner_scan) used.
              type: str
              returned: always
            processes_skipped:
              description: Processes not looked into, with O(owner_scan=until_found).
              type: int
              returned: always
            processes_scanned:
              description: Processes whose descriptors were read.
              type: int
              returned: always
            processes_unreadable:
              description: Processes whose descriptors could not be read.
              type: int
              returned: always
            processes_vanished:
              description: Processes that exited while their descriptors were read.
              type: int
              returned: always
        listeners:
          description:
            - TCP sockets in LISTEN and bound, unconnected UDP sockets (C(netstat -l)), sorted by
              protocol, family, port and address. A socket held by several processes is one entry.
          type: list
          elements: dict
          returned: always
          contains:
            proto:
              description: V(tcp) or V(udp).
              type: str
            family:
              description: V(ipv4) or V(ipv6).
              type: str
            address:
              description: Local address; IPv6 scoped addresses carry C(%interface).
              type: str
            port:
              description: Local port.
              type: int
            state:
              description: V(LISTEN) for TCP, V(CLOSED) for UDP.
              type: str
            recv_q:
              description: Recv-Q; for a TCP listener the current accept queue.
              type: int
            send_q:
              description: Send-Q.
              type: int
            backlog:
              description: Accept queue limit of a TCP listener where the backend knows it (netlink).
              type: int
            inode:
              description: Socket inode.
              type: int
            uid:
              description: Socket owner uid.
              type: int
            user:
              description: Socket owner name.
              type: str
            exposure:
              description: V(loopback), V(wildcard), V(link-local), V(private), V(multicast),
                V(public) or V(unknown).
              type: str
            v6only:
              description: For IPv6 sockets, whether IPv4 is refused, where the backend knows it.
              type: bool
            interface:
              description: Device the socket is bound to, where known.
              type: str
            service:
              description: Service name when O(services=true).
              type: str
            processes:
              description:
                - Processes holding the socket, by pid; each has C(pid), C(ppid), C(name) (comm),
                  C(exe), C(cmdline), C(uid), C(user), C(unit) (the systemd unit from
                  C(/proc/PID/cgroup), or null) and C(container) (C(id) and C(runtime) when the
                  cgroup path names a container, or null).
                - A name, executable or command line that is not UTF-8 is text with C(\\xNN)
                  escapes, and C(name_hex), C(exe_hex) or C(cmdline_hex) hold the original bytes.
              type: list
              elements: dict
            owner_unresolved:
              description:
                - Null, or why RV(ansible_facts.netstat.listeners[].processes) is empty although
                  some process may hold the socket - C(cause), C(causes), C(pids) (the uninspected
                  processes that may hold it, narrowed by uid and network namespace) and C(detail).
                - Null with no processes means no process holds it (a kernel socket).
              type: dict
            netns:
              description: The inode of the socket's network namespace (see RV(ansible_facts.netstat.namespaces)).
              type: int
            container:
              description:
                - Null, or the container of the socket - C(id), C(runtime), C(name), C(image) (and
                  C(pod), C(pod_namespace), C(compose_project), C(compose_service) from the labels),
                  its owner's (from the owner's cgroup), else the one whose namespace holds it, or,
                  for a port published by C(docker-proxy), the container it forwards to. Name and
                  image are null when the runtime could not be read.
              type: dict
            forwards_to:
              description:
                - For a listener held by C(docker-proxy), the C(proto), C(address), C(port) and
                  C(container) it forwards to.
              type: dict
              returned: when the owner is docker-proxy
            activation:
              description:
                - For a listener held by a socket activator (C(systemd-socket-activate), C(systemd),
                  C(inetd)), C(activator), C(pid), C(serves) (the command it will start, where its
                  command line says) and C(state=waiting); for one handed to a service through
                  C(LISTEN_FDS), C(activator=LISTEN_FDS), the serving C(pid) and C(state=serving).
              type: dict
              returned: when the listener is socket-activated
          sample:
            - proto: tcp
              family: ipv4
              address: 0.0.0.0
              port: 22
              state: LISTEN
              recv_q: 0
              send_q: 0
              backlog: 128
              inode: 20817
              uid: 0
              user: root
              exposure: wildcard
              v6only: null
              interface: null
              service: null
              processes:
                - {pid: 812, ppid: 1, name: sshd, exe: /usr/sbin/sshd, cmdline: "sshd: /usr/sbin/sshd -D", uid: 0, user: root}
        connections:
          description:
            - Non-listening TCP and UDP sockets, in the form O(connections) asks for; absent for
              V(none) and V(counts).
            - V(full) gives dicts with C(proto), C(family), C(state), C(local_address), C(local_port),
              C(remote_address), C(remote_port), C(recv_q), C(send_q), C(inode), C(uid), C(user),
              C(processes).
            - V(compact) gives C(columns) (the same names, with C(pids) instead of C(user) and
              C(processes)), C(count) and C(rows), one text block with a line per socket, the
              values separated by single spaces, C(-) for none and pids comma-separated, for example
              C(tcp ipv4 ESTABLISHED 127.0.0.1 41000 127.0.0.1 80 0 0 4242 0 812,813).
            - V(summary) gives dicts with C(proto), C(family), C(state), C(local_port) (null unless
              a listening port), C(remote_address), C(count).
          type: raw
          returned: when O(connections) is V(summary), V(full) or V(compact)
        namespaces:
          description:
            - The network namespaces read (one for O(namespaces=current)), the primary first - its
              C(inode), C(name) (a C(/run/netns) name, else its container's), C(names), C(primary),
              C(current) (the module's own), C(host) (that of pid 1), the C(selector) that chose it,
              a C(pid) in it, C(containers) in it, C(read_via) (V(netlink), V(netlink (setns)),
              V(procfs (/proc/PID/net)), ...), C(complete), C(reason) when it could not be read,
              its C(counts) and the number of C(listeners).
          type: list
          elements: dict
          returned: always
        published:
          description:
            - Every port the container runtime publishes on the host - C(proto), C(family),
              C(address), C(port), C(exposure), C(container_port), C(container), C(socket) (whether a
              host socket holds it; false for NAT rules alone, as with C(--userland-proxy=false)) and
              C(held_by) (the programs holding it).
          type: list
          elements: dict
          returned: when the runtime API was read
        processes:
          description:
            - Every owner seen, keyed by pid (as a string), for the C(pids) of compact rows.
            - Only with O(connections=compact); in the other forms each socket carries its own
              process dicts, and the same dicts again would only cost time on a busy host.
          type: dict
          returned: when O(owners=true) and O(connections=compact)
        unix:
          description: UNIX domain sockets chosen by O(unix).
          type: list
          elements: dict
          returned: when O(protocols) has V(unix) and O(unix) is not V(none)
          contains:
            type:
              description: V(stream), V(dgram), V(seqpacket), V(raw) or V(rdm).
              type: str
            state:
              description: V(LISTENING), V(CONNECTED), V(UNCONNECTED), V(CONNECTING),
                V(DISCONNECTING) or V(FREE).
              type: str
            flags:
              description: C([ACC]) for listening sockets.
              type: list
              elements: str
            refcnt:
              description: Reference count (procfs only).
              type: int
            inode:
              description: Socket inode.
              type: int
            path:
              description: Path, C(@name) for abstract names, null when unbound.
              type: str
            abstract:
              description: Whether the name is abstract.
              type: bool
            peer:
              description: Peer inode, where the backend knows it (netlink).
              type: int
            recv_q:
              description: Recv-Q, where the backend knows it (netlink).
              type: int
            send_q:
              description: Send-Q, where the backend knows it (netlink).
              type: int
            mode:
              description: File mode of the socket file (e.g. C(0666)), null when not on disk.
              type: str
            file_uid:
              description: Owner uid of the socket file.
              type: int
            processes:
              description: Processes holding the socket.
              type: list
              elements: dict
        counts:
          description:
            - Sockets per protocol and state, every state present with zero included. TCP and UDP
              have the 12 netstat state names, UNIX the six socket states.
          type: dict
          returned: always
          sample:
            tcp: {LISTEN: 3, SYN_SENT: 0, SYN_RECV: 0, ESTABLISHED: 2, FIN_WAIT1: 0, FIN_WAIT2: 0,
                  CLOSE_WAIT: 0, LAST_ACK: 0, TIME_WAIT: 1, CLOSING: 0, CLOSED: 0, UNKNOWN: 0}
        counts_stats:
          description: Per protocol and state, C(min), C(max) and C(last) over the samples.
          type: dict
          returned: when O(samples) is more than 1
"""

import gc
import traceback

if __name__ == "__main__":
    # A module is a short-lived process that builds one large, acyclic result: the cyclic garbage
    # collector only walks it again and again (it runs every 700 new objects, and compiling the
    # imports below makes hundreds of thousands). Off as the module, before its imports: -5 ms of
    # CPU a run on a small host, -15% of the gather with every connection listed at 18k sockets
    # (docs/performance.md). Not when imported (tests, ansible-test): only as the module.
    gc.disable()

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.netaudit.netstat.plugins.module_utils import _import_once

# Before the other module_utils: from Ansible's zip, each is then compiled once, not twice.
_import_once.install()

from ansible_collections.netaudit.netstat.plugins.module_utils._common import NetstatError
from ansible_collections.netaudit.netstat.plugins.module_utils._gather import ARGUMENT_SPEC, gather, options_from


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    params = module.params
    try:
        options = options_from(params)
        if params["backend"] == "psutil":
            from ansible_collections.netaudit.netstat.plugins.module_utils._psutil import PSUTIL_IMPORT_ERROR

            if PSUTIL_IMPORT_ERROR is not None:
                module.fail_json(msg=missing_required_lib("psutil"), exception=PSUTIL_IMPORT_ERROR)
        facts = gather(options)
    except NetstatError as exc:
        module.fail_json(msg=str(exc))
    except Exception as exc:  # a bug, not bad input: say so, keep the traceback for -vvv
        module.fail_json(
            msg="netstat_facts failed unexpectedly (%s: %s); please report this with the -vvv output"
            % (type(exc).__name__, exc),
            exception=traceback.format_exc(),
        )
    for warning in facts["collector"]["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={"netstat": facts})


if __name__ == "__main__":
    main()
