# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: netstat_drift
short_description: Drift findings of socket facts against a socket policy
version_added: 0.1.0
description:
  - Evaluates C(ansible_facts.netstat) against a socket policy and returns the findings, with the
    same engine as M(netaudit.netstat.netstat_audit).
  - The policy is loaded and validated on the controller; an invalid policy fails the template
    with every problem listed (file, line, column).
author:
  - netaudit developers (@netaudit)
positional: policy
options:
  _input:
    description: C(ansible_facts.netstat) (or C(ansible_facts) as a whole), from M(netaudit.netstat.netstat_facts).
    type: dict
    required: true
  policy:
    description:
      - A policy file path, an inline policy mapping, or a list of those, merged in order.
      - A relative path is looked for in the current directory of the controller process, then
        in C(playbook_dir) and C(playbook_dir/files), as M(netaudit.netstat.netstat_audit) does;
        C(netaudit.netstat/NAME) names a policy shipped with the collection. A path found nowhere
        fails with the list of places searched.
    type: raw
    required: true
  today:
    description: Date (YYYY-MM-DD) deciding which waivers have expired; default today.
    type: str
  allow_incomplete:
    description: Treat partial facts (unknown owners) as V(info) findings.
    type: bool
    default: false
  result:
    description: V(findings) returns the list of findings; V(full) the whole host result (compliant, counts, findings, summary).
    type: str
    choices: [findings, full]
    default: findings
seealso:
  - module: netaudit.netstat.netstat_audit
  - plugin: netaudit.netstat.netstat_compliant
    plugin_type: test
"""

EXAMPLES = r"""
- name: Findings of this host against a policy
  ansible.builtin.debug:
    msg: "{{ ansible_facts.netstat | netaudit.netstat.netstat_drift(playbook_dir ~ '/policies/web.yml') }}"

- name: Only the unexpected listeners
  ansible.builtin.debug:
    msg: >-
      {{ ansible_facts.netstat
         | netaudit.netstat.netstat_drift({'listeners': {'default': 'deny', 'allow': [{'port': 22}]}})
         | selectattr('rule', 'eq', 'unexpected-listener') | map(attribute='subject') | list }}
"""

RETURN = r"""
_value:
  description:
    - The findings (see RV(netaudit.netstat.netstat_audit#module:findings)), or with O(result=full)
      a dict with compliant, counts, waived, findings, summary, policies and policy_files.
  type: raw
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from jinja2 import pass_context
from ansible.module_utils.common.text.converters import to_text

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _policy_loader
from ansible_collections.netaudit.netstat.plugins.plugin_utils._report import plain


def _playbook_dir(context):
    """playbook_dir from the Jinja context (None outside a play)."""
    if context is None:
        return None
    try:
        value = context.get("playbook_dir")
    except Exception:  # noqa: BLE001 - a context without variables
        return None
    return to_text(value) if value else None


def audit(facts, policy, today=None, allow_incomplete=False, playbook_dir=None, fail_on="error"):
    """The host result of `facts` against `policy` (paths, dicts, or a list); raises AnsibleFilterError."""
    if not isinstance(facts, Mapping):
        raise AnsibleFilterError("netstat_drift: the input must be ansible_facts.netstat (a dict), not %s" % type(facts).__name__)
    try:
        loaded = _policy_loader.load_policies(
            policy,
            dirs=_policy_loader.search_dirs(playbook_dir),
        )
        result = _policy.evaluate(
            plain(facts),
            loaded.layers,
            today=today,
            incomplete_severity="info" if allow_incomplete else None,
            fail_on=fail_on,
        )
    except _policy_loader.PolicyError as exc:
        raise AnsibleFilterError("invalid policy:\n%s" % to_text(exc))
    except _policy.PolicyEvalError as exc:
        raise AnsibleFilterError("cannot evaluate the policy: %s" % to_text(exc))
    result["policy_files"] = list(loaded.files)
    return result


def with_playbook_dir(func):
    """`func` as a Jinja filter/test that passes the play's playbook_dir (relative policy paths
    are looked for there, as the action does)."""

    @pass_context
    def wrapper(context, *args, **kwargs):
        kwargs.setdefault("playbook_dir", _playbook_dir(context))
        return func(*args, **kwargs)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


def netstat_drift(facts, policy, today=None, allow_incomplete=False, result="findings", playbook_dir=None):
    if result not in ("findings", "full"):
        raise AnsibleFilterError("netstat_drift: result must be 'findings' or 'full', not %r" % (result,))
    host = audit(facts, policy, today=today, allow_incomplete=allow_incomplete, playbook_dir=playbook_dir)
    return host if result == "full" else host["findings"]


class FilterModule(object):
    def filters(self):
        return {"netstat_drift": with_playbook_dir(netstat_drift)}
