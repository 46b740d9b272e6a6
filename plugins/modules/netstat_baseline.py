#!/usr/bin/python
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This is a documentation-only module: the work is done by the action plugin of the same name
# (plugins/action/netstat_baseline.py), on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: netstat_baseline
short_description: Learn a socket policy from one golden host or a group (learn mode)
version_added: 0.1.0
description:
  - Writes a commented policy YAML file on the controller from C(ansible_facts.netstat), with what
    listens (protocol, port, owning program, socket user and bind class) and state limits with
    headroom. The policy conforms to C(policies/schema/netstat-policy.schema.json) and audits the
    host it was learned from as compliant with M(netaudit.netstat.netstat_audit); a listener
    added afterwards is drift (C(unexpected-listener)).
  - The policy is closed world (C(listeners.default=deny)). Each allow entry carries a comment with
    the sockets, executable and command line it was learned from. Listeners that every learned
    host had are C(required).
  - Facts come from O(facts), or from the C(ansible_facts.netstat) of the hosts in O(hosts)
    (with C(run_once), to learn the union of a group), or from the current host's facts; when
    the current host has none, M(netaudit.netstat.netstat_facts) is run with O(gather_options).
  - Review the file before using it, since it allows whatever was listening, wanted or not.
author:
  - netaudit developers (@netaudit)
extends_documentation_fragment:
  - netaudit.netstat.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  action:
    description: Runs on the controller as an action plugin (it may run the facts module on the host).
    support: full
options:
  dest:
    description:
      - Path of the policy file to write on the controller. Relative paths are relative to the
        current working directory of C(ansible-playbook). Missing directories are created.
    type: path
    required: true
  facts:
    description:
      - C(ansible_facts.netstat) to learn from (one host). Takes precedence over O(hosts).
    type: dict
  hosts:
    description:
      - Learn the union of these hosts, from their C(ansible_facts.netstat) in C(hostvars). Run
        M(netaudit.netstat.netstat_facts) on them first and use C(run_once=true).
      - Default is the current host.
    type: list
    elements: str
  gather_options:
    description:
      - Options for M(netaudit.netstat.netstat_facts) when the facts of the current host have to be
        gathered.
    type: dict
    default: {}
  name:
    description:
      - The policy name (C(policy:) key), quoted in reports.
    type: str
    default: baseline
  extends:
    description:
      - Policy files the learned policy builds on (C(extends:) key), relative to O(dest).
    type: list
    elements: str
  require:
    description:
      - Mark the listeners that every learned host had as C(required), so that a service that stops
        is drift (C(missing-listener)).
    type: bool
    default: true
  headroom:
    description:
      - State limits are the highest count observed times this factor.
    type: float
    default: 2.0
  state_floor:
    description:
      - Lowest state limit written, so that idle hosts do not get limits of zero.
    type: int
    default: 100
  mode:
    description:
      - File mode of O(dest).
    type: raw
    default: "0644"
notes:
  - Learn as root (C(become=true)). Without it the owners of other users' sockets are unknown,
    the learned entries carry no program, and the policy says incomplete facts are a warning.
seealso:
  - module: netaudit.netstat.netstat_facts
  - module: netaudit.netstat.netstat_audit
"""

EXAMPLES = r"""
- name: Learn a policy from a golden host
  hosts: golden
  become: true
  tasks:
    - name: Write the baseline
      netaudit.netstat.netstat_baseline:
        dest: "policies/{{ inventory_hostname }}.yml"
        extends: [default.yml]

- name: Learn the union of a group
  hosts: webservers
  become: true
  tasks:
    - name: Gather socket facts
      netaudit.netstat.netstat_facts:

    - name: Write one policy for the group
      netaudit.netstat.netstat_baseline:
        dest: policies/webservers.yml
        name: webservers
        hosts: "{{ ansible_play_hosts }}"
      run_once: true
"""

RETURN = r"""
dest:
  description: Path of the policy file.
  returned: always
  type: str
hosts:
  description: Hosts the policy was learned from.
  returned: success
  type: list
  elements: str
policy:
  description: The learned policy (without the comments).
  returned: success
  type: dict
listeners:
  description: Number of allow entries learned.
  returned: success
  type: int
"""
