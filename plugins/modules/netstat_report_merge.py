#!/usr/bin/python
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

# This is a documentation-only module: the work is done by the action plugin of the same name
# (plugins/action/netstat_report_merge.py), on the controller.

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: netstat_report_merge
short_description: Merge the reports of sliced audit runs into one fleet report
version_added: 0.1.0
description:
  - Reads the C(report.json) of N runs (the slices of one inventory, AWX job slices, CI jobs per
    environment, or one per host from C(ansible-pull)) and writes the same reports one unsliced
    run over those hosts writes (C(report.json), C(junit.xml), C(report.md), C(report.html)),
    identical apart from the run metadata.
  - A host reported by several slices keeps the result of the slice generated last; the merge
    metadata (C(merged.duplicates) in C(report.json)) says which results it dropped.
  - A host of O(expect_hosts) in no slice is reported as not audited (C(failed)), never dropped.
  - Runs on the controller; no host is contacted.
author:
  - netaudit developers (@netaudit)
extends_documentation_fragment:
  - netaudit.netstat.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  action:
    description: Runs on the controller as an action plugin.
    support: full
options:
  slices:
    description: The C(report.json) files of the slices, or their report directories.
    type: list
    elements: path
    required: true
  dest:
    description: Directory the merged reports are written to (as the report callback writes them).
    type: path
    required: true
  expect_hosts:
    description:
      - The hosts the fleet report must have, for example C(groups['all']) of the whole inventory.
        Those in no slice are reported as not audited.
    type: list
    elements: str
    default: []
  formats:
    description: Which reports to write.
    type: list
    elements: str
    choices: [json, junit, markdown, html, sarif]
    default: [json, junit, markdown, html, sarif]
  junit_fail_on:
    description: Lowest severity of an unwaived finding that makes a JUnit test case fail.
    type: str
    choices: [error, warning, info]
    default: error
  compare_with:
    description:
      - A previous fleet report.json to mark findings new, open or resolved against (see the
        P(netaudit.netstat.netstat_report#callback) callback); default none.
    type: path
notes:
  - The plain command C(scripts/merge-reports.py) of the collection does the same without Ansible
    for a CI job.
seealso:
  - plugin: netaudit.netstat.netstat_report
    plugin_type: callback
"""

EXAMPLES = r"""
- name: One fleet report from the slices of a sliced job
  netaudit.netstat.netstat_report_merge:
    slices: "{{ query('ansible.builtin.fileglob', 'slices/*/report.json') }}"
    dest: reports/fleet
    expect_hosts: "{{ groups['all'] }}"
  run_once: true
  delegate_to: localhost
"""

RETURN = r"""
verdict:
  description: The fleet's verdict (compliant, drift, incomplete, unreachable, failed).
  returned: always
  type: str
summary:
  description: Hosts per verdict and findings per severity, as in C(report.json).
  returned: always
  type: dict
merged:
  description: C(slices) (each report, when generated, how many hosts), C(duplicates), C(not_audited).
  returned: always
  type: dict
files:
  description: The files written, by format.
  returned: always
  type: dict
"""
