# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: netstat_compliant
short_description: Whether socket facts comply with a socket policy
version_added: 0.1.0
description:
  - True when C(ansible_facts.netstat) has no unwaived finding at or above O(fail_on) against the
    policy; the same engine and verdict as M(netaudit.netstat.netstat_audit).
author:
  - netaudit developers (@netaudit)
positional: policy
options:
  _input:
    description: C(ansible_facts.netstat) (or C(ansible_facts) as a whole).
    type: dict
    required: true
  policy:
    description: A policy file path, an inline policy mapping, or a list of those, merged in order.
    type: raw
    required: true
  fail_on:
    description: The least severe finding that makes the facts non-compliant.
    type: str
    choices: [error, warning, info]
    default: error
  today:
    description: Date (YYYY-MM-DD) deciding which waivers have expired; default today.
    type: str
  allow_incomplete:
    description: Treat partial facts (unknown owners) as V(info) findings.
    type: bool
    default: false
seealso:
  - module: netaudit.netstat.netstat_audit
  - plugin: netaudit.netstat.netstat_drift
    plugin_type: filter
"""

EXAMPLES = r"""
- name: Stop when the host drifts from its policy
  ansible.builtin.assert:
    that: ansible_facts.netstat is netaudit.netstat.netstat_compliant(playbook_dir ~ '/policies/web.yml')

- name: Warnings count too
  ansible.builtin.assert:
    that: ansible_facts.netstat is netaudit.netstat.netstat_compliant(netaudit_policies, fail_on='warning')
"""

RETURN = r"""
_value:
  description: Whether the facts comply.
  type: bool
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.netaudit.netstat.plugins.filter.netstat_drift import audit, with_playbook_dir


def netstat_compliant(facts, policy, fail_on="error", today=None, allow_incomplete=False, playbook_dir=None):
    if fail_on not in ("error", "warning", "info"):
        raise AnsibleFilterError("netstat_compliant: fail_on must be error, warning or info, not %r" % (fail_on,))
    host = audit(facts, policy, today=today, allow_incomplete=allow_incomplete, playbook_dir=playbook_dir, fail_on=fail_on)
    return host["verdict"] == "compliant"


class TestModule(object):
    def tests(self):
        return {"netstat_compliant": with_playbook_dir(netstat_compliant)}
