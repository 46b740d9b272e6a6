#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: netstat_audit
short_description: Check a host's sockets against a YAML socket policy
version_added: 0.1.0
description:
  - Loads and validates one or more socket policies on the controller, gathers the host's socket
    facts with M(netaudit.netstat.netstat_facts) (or takes O(facts) already gathered), and
    reports the drift as findings.
  - A policy names what may listen, what must listen, how many sockets may sit in each state,
    queue limits, which remote peers outbound connections may reach, which UNIX sockets may
    exist, and time-limited waivers. See C(policies/schema/netstat-policy.schema.json) and the
    commented examples in C(policies/examples/) of the collection.
  - Every problem in a policy (bad YAML, unknown keys with a "did you mean", wrong types, bad
    ports, addresses, CIDRs or dates, missing files, include cycles) is reported with its file,
    line and column; the task fails with all of them listed.
  - The result has a RV(verdict), V(compliant), V(drift) or V(incomplete), judged on the unwaived
    findings at or above O(fail_on). V(incomplete) means the only such findings are
    C(incomplete-facts) ones, so something could not be seen (for example a socket whose owning process
    could not be inspected, with the cause), which is not drift and not compliance. Drift wins
    when both hold; both are in the findings.
  - The task fails when unwaived findings at or above O(fail_on) remain (drift or incomplete). It
    never changes the host. RV(msg) is what a person reads, the verdict in one line, then one line
    per finding (at most ten, then a count of the rest), control characters escaped.
  - This is an action plugin; the engine is shared with the P(netaudit.netstat.netstat_drift#filter)
    filter and the P(netaudit.netstat.netstat_compliant#test) test.
author:
  - netaudit developers (@netaudit)
extends_documentation_fragment:
  - netaudit.netstat.attributes
attributes:
  check_mode:
    support: full
    details:
      - The audit changes nothing, so check mode runs it as usual.
  diff_mode:
    support: full
    details:
      - Shows the listeners the policy expects next to the listeners found.
      - In diff mode the task reports C(changed) when the two differ, since Ansible only displays
        the diff of a changed task. Outside diff mode it never reports C(changed).
options:
  policy:
    description:
      - The policy, as a file path, an inline policy mapping, or a list of those.
      - A list is merged in order, later policies refining earlier ones (see the policy language
        reference, C(docs/policy.md) in the collection); each file's C(extends) are merged before it.
      - A relative path is looked for in the current directory of C(ansible-playbook), then in the
        playbook directory and its C(files/) subdirectory (the same order as the
        P(netaudit.netstat.netstat_drift#filter) filter and the
        P(netaudit.netstat.netstat_compliant#test) test); a path found nowhere fails with the list
        of places searched. A path starting with
        C(netaudit.netstat/) names a policy shipped with the collection, for example
        C(netaudit.netstat/default.yml) or C(netaudit.netstat/examples/webserver.yml).
      - A string that holds a YAML flow list, such as C([policies/base.yml, policies/web.yml]) (what
        C(-e netaudit_policies=[a.yml,b.yml]) passes), is read as that list.
      - Required, unless O(playbook_vars) provides it.
    type: raw
  playbook_vars:
    description:
      - Take each option this task does not set from the host's variables of the collection's
        playbooks, as the C(netaudit.netstat.audit), C(netaudit.netstat.reaudit) and
        C(netaudit.netstat.image_gate) playbooks do - O(policy) from C(netaudit_policies)
        (V(netaudit.netstat/default.yml) when it is not defined), O(fail_on) from
        C(netaudit_fail_on), O(return_facts) from C(netaudit_cache_facts), O(facts) from
        C(netaudit_facts), O(max_facts_age) from C(netaudit_max_facts_age), and the
        O(gather) options C(connections), C(services) and C(namespaces) from C(netaudit_connections),
        C(netaudit_services) and C(netaudit_namespaces). A variable that is not defined leaves the
        option's default.
      - The values are the host's, as any task variable (group_vars, host_vars, C(-e)). Reading
        them here instead of writing a template per option spares Ansible a template compile per
        option and host, which a fleet audit of a thousand hosts notices.
    type: bool
    default: false
  facts:
    description:
      - Socket facts already gathered (C(ansible_facts.netstat), or C(ansible_facts) as a whole).
      - When omitted, M(netaudit.netstat.netstat_facts) runs on the host, with
        O(netaudit.netstat.netstat_facts#module:connections=compact) when the policy needs the
        connection list (state limits scoped to a port or program, queue limits on established
        connections, egress rules).
    type: dict
  gather:
    description:
      - Extra options for M(netaudit.netstat.netstat_facts) when this task gathers the facts, for
        example V(backend=netlink) and V(samples=3).
    type: dict
    default: {}
  fail_on:
    description:
      - Fail the task when an unwaived finding of this severity or a more serious one remains.
      - V(never) only reports.
    type: str
    choices: [error, warning, info, never]
    default: error
  allow_incomplete:
    description:
      - Accept partial facts (owners not resolved, typically when not running as root). The
        C(incomplete-facts) findings and the findings about unknown owners become V(info).
      - When false, the policy's C(completeness.severity) applies (default V(error)).
    type: bool
    default: false
  today:
    description:
      - The date (YYYY-MM-DD) that decides which waivers have expired. Defaults to the
        controller's current date; set it to make audits reproducible.
    type: str
  return_facts:
    description:
      - Return the facts this task gathered as C(ansible_facts.netstat), so that a fact cache keeps
        them for a re-audit without connecting (the C(netaudit.netstat.reaudit) playbook).
        Off by default - a fleet run keeps no socket tables in memory.
      - Ansible caches the facts of a task that succeeds only, so when this task returns the facts
        a host whose audit fails does not fail the task; RV(fails) says it should, and the
        C(netaudit.netstat.audit) playbook fails such a host in its last play.
    type: bool
    default: false
  max_facts_age:
    description:
      - With O(facts) from a fact cache, facts gathered longer ago than this (seconds, or a number
        with V(s), V(m), V(h), V(d), V(w), for example V(24h)) make the host C(incomplete), with an
        C(incomplete-facts) finding saying when they were gathered. Facts without
        C(collector.gathered_at) count as too old.
      - Default none - any age.
    type: raw
notes:
  - Findings carry a stable C(rule) id; see RV(findings) for the list.
  - Result is also returned under RV(netstat_audit) for the P(netaudit.netstat.netstat_report#callback)
    callback.
seealso:
  - module: netaudit.netstat.netstat_facts
  - plugin: netaudit.netstat.netstat_drift
    plugin_type: filter
  - plugin: netaudit.netstat.netstat_compliant
    plugin_type: test
"""

EXAMPLES = r"""
- name: Audit this host against the default policy shipped with the collection
  netaudit.netstat.netstat_audit:
    policy: netaudit.netstat/default.yml
  become: true

- name: Audit against the group's policies (files/ of the role or playbook), warnings fail too
  netaudit.netstat.netstat_audit:
    policy: "{{ netaudit_policies }}"  # e.g. [policies/base.yml, policies/web.yml]
    fail_on: warning
  become: true
  register: audit

- name: Reuse facts gathered earlier, only report
  netaudit.netstat.netstat_audit:
    policy: policies/web.yml
    facts: "{{ ansible_facts.netstat }}"
    fail_on: never

- name: An inline policy extending a file
  netaudit.netstat.netstat_audit:
    policy:
      policy: one-off
      extends: policies/base.yml
      listeners:
        allow:
          - {proto: tcp, port: 8080, bind: loopback, program: python3}
      waivers:
        - rule: unexpected-listener
          match: {port: 9000}
          reason: TICKET-42 migration
          expires: 2026-12-31
"""

RETURN = r"""
verdict:
  description:
    - V(compliant), V(drift) (a finding other than C(incomplete-facts) at or above O(fail_on)) or
      V(incomplete) (only C(incomplete-facts) findings at or above O(fail_on)).
    - The fleet report adds V(unreachable) and V(failed) for hosts that could not be audited.
  returned: success
  type: str
  sample: incomplete
compliant:
  description: True when the verdict is V(compliant).
  returned: success
  type: bool
fails:
  description:
    - Whether the findings fail the task under O(fail_on) (always false with V(never)).
    - With O(return_facts) the task returns the facts and does not fail; this says whether it
      should have.
  returned: success
  type: bool
console:
  description: The lines of RV(msg) as a list (verdict line first).
  returned: success
  type: list
  elements: str
counts:
  description: Unwaived findings per severity.
  returned: success
  type: dict
  contains:
    error:
      description: Findings of severity error.
      type: int
    warning:
      description: Findings of severity warning.
      type: int
    info:
      description: Findings of severity info.
      type: int
  sample: {error: 1, warning: 0, info: 0}
waived:
  description: Number of findings covered by an active waiver.
  returned: success
  type: int
summary:
  description: One line verdict.
  returned: success
  type: str
  sample: "NOT compliant: 1 error(s), 0 warning(s), 0 info"
findings:
  description:
    - The drift, sorted deterministically (unwaived first, then by severity, rule and subject).
    - "Rule ids: unexpected-listener, missing-listener, forbidden-listener, wrong-owner, wrong-user,
      wrong-bind, state-threshold, queue-threshold, forbidden-peer, unexpected-peer,
      unexpected-unix-socket, forbidden-unix-socket, world-writable-unix-socket, incomplete-facts,
      expired-waiver, unused-waiver."
  returned: success
  type: list
  elements: dict
  contains:
    rule:
      description: Stable rule id.
      type: str
    severity:
      description: V(error), V(warning) or V(info).
      type: str
    subject:
      description: What the finding is about, for example C(tcp 0.0.0.0:8080) or C(unix /run/docker.sock).
      type: str
    expected:
      description: What the policy wants.
      type: str
    actual:
      description: What the host has.
      type: str
    message:
      description: A sentence a person can act on.
      type: str
    source:
      description: Policy file and line of the rule involved (C(policies/web.yml:12)), or null.
      type: str
    waived:
      description: The waiver covering the finding (reason, expires, source), or null.
      type: dict
    proto:
      description: V(tcp), V(udp) or V(unix), or null. The structured fields below are what
        reports, grouping and waivers read; they are null (or empty lists) where they do not apply.
      type: str
    family:
      description: V(ipv4) or V(ipv6), or null.
      type: str
    address:
      description: Local address of the listener the finding is about, or null.
      type: str
    port:
      description: Local port (listener, missing listener, scoped limit), or null.
      type: int
    remote_address:
      description: Peer address of an egress finding, or null.
      type: str
    remote_port:
      description: Peer port of an egress finding, or null.
      type: int
    path:
      description: UNIX socket path, or null.
      type: str
    state:
      description: Socket state a C(state-threshold) finding counts, or null.
      type: str
    programs:
      description: The programs involved, one entry per name, with C(name), C(exe), C(pids) (at most
        ten), C(pid_count) and C(users).
      type: list
      elements: dict
    users:
      description: User names of the socket and its processes (uids without a name as text).
      type: list
      elements: str
    uids:
      description: Numeric uids of the socket and its processes.
      type: list
      elements: int
    cause:
      description:
        - For C(incomplete-facts), why the facts are partial. Per socket - V(not-root),
          V(hidepid), V(capabilities) (root, but the process holds capabilities the gatherer
          lacks), V(user-namespace), V(lsm), V(vanished), V(owners-not-gathered); for the
          collector as a whole - V(collector).
      type: str
    unresolved:
      description: For an C(incomplete-facts) finding about one socket, C(cause), C(causes),
        C(pids) of the processes that could not be inspected, and C(detail).
      type: dict
  sample:
    - rule: unexpected-listener
      severity: error
      subject: tcp 0.0.0.0:8080
      expected: "no listener (no allow rule matches; listeners.default: deny)"
      actual: "listening: python3 (pid 4242, user app)"
      message: "tcp 0.0.0.0:8080 is open (python3 (pid 4242, user app)) but no allow rule matches it; ..."
      source: policies/web.yml:9
      waived: null
policies:
  description: Names of the policies merged, in order.
  returned: success
  type: list
  elements: str
policy_files:
  description: Policy files read, in merge order.
  returned: success
  type: list
  elements: str
netstat_audit:
  description: The whole host result (the keys above, plus O(fail_on)), under a stable key for the report callback.
  returned: success
  type: dict
policy_errors:
  description: Every policy problem, when the policy is invalid.
  returned: when the policy is invalid
  type: list
  elements: dict
  contains:
    file:
      description: Policy file.
      type: str
    line:
      description: Line, 1-based.
      type: int
    column:
      description: Column, 1-based.
      type: int
    path:
      description: Key path, for example C(listeners.allow[0].port).
      type: str
    message:
      description: What is wrong, with a "did you mean" for misspelt keys.
      type: str
    kind:
      description: V(file), V(syntax), V(validation) or V(cycle).
      type: str
msg:
  description: The summary and the findings at or above O(fail_on), one per line; or every policy error.
  returned: always
  type: str
"""
