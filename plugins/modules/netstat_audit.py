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
  - The task fails when unwaived findings at or above O(fail_on) remain. It never changes the
    host.
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
      - Relative paths are searched like other controller-side files (the role's or playbook's
        C(files/) directory, then the playbook directory). A path starting with
        C(netaudit.netstat/) names a policy shipped with the collection, for example
        C(netaudit.netstat/default.yml) or C(netaudit.netstat/examples/webserver.yml).
    type: raw
    required: true
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
compliant:
  description: True when no unwaived finding of severity V(error) remains.
  returned: success
  type: bool
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
