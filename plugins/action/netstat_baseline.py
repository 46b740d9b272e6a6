# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Learn mode (see the docs-only module plugins/modules/netstat_baseline.py): facts of one host
or of a group -> a commented policy YAML file on the controller."""

from __future__ import annotations

import os
from collections.abc import Mapping

import yaml
from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.text.converters import to_native
from ansible.plugins.action import ActionBase

from ansible_collections.netaudit.netstat.plugins.plugin_utils import _baseline, _policy_loader, _report

FACTS_MODULE = "netaudit.netstat.netstat_facts"

ARGUMENT_SPEC = dict(
    dest=dict(type="path", required=True),
    facts=dict(type="dict"),
    hosts=dict(type="list", elements="str"),
    gather_options=dict(type="dict", default={}),
    name=dict(type="str", default="baseline"),
    extends=dict(type="list", elements="str"),
    require=dict(type="bool", default=True),
    headroom=dict(type="float", default=2.0),
    state_floor=dict(type="int", default=100),
    mode=dict(type="raw", default="0644"),
)


def _netstat_of(host_vars):
    facts = host_vars.get("ansible_facts") if host_vars is not None else None
    if facts is not None and facts.get("netstat") is not None:
        return facts["netstat"]
    if host_vars is not None and host_vars.get("ansible_netstat") is not None:
        return host_vars["ansible_netstat"]
    return None


def _mode(value):
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise AnsibleActionFail("mode must be an octal number such as '0644', got %r" % (value,))


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    def _gather(self, options, task_vars):
        result = self._execute_module(module_name=FACTS_MODULE, module_args=options, task_vars=task_vars)
        if result.get("failed"):
            raise AnsibleActionFail("gathering socket facts failed: %s" % result.get("msg", "unknown error"), result=result)
        facts = (result.get("ansible_facts") or {}).get("netstat")
        if facts is None:
            raise AnsibleActionFail("%s returned no ansible_facts.netstat" % FACTS_MODULE)
        return facts

    def _collect(self, args, task_vars):
        """{host: netstat facts} and whether they were gathered now."""
        me = task_vars.get("inventory_hostname")
        if args["facts"] is not None:
            return {me: _report.plain(args["facts"])}, False
        hostvars = task_vars.get("hostvars") or {}
        if args["hosts"]:
            out, missing = {}, []
            for host in args["hosts"]:
                netstat = None
                if host in hostvars:
                    # raw: facts are data, not templates (and templating them needs a context)
                    host_vars = hostvars.raw_get(host) if hasattr(hostvars, "raw_get") else hostvars[host]
                    if isinstance(host_vars, Mapping):
                        netstat = _netstat_of(host_vars)
                if netstat is None:
                    missing.append(host)
                else:
                    out[host] = _report.plain(netstat)
            if missing:
                raise AnsibleActionFail(
                    "no ansible_facts.netstat for host(s) %s: run %s on them before learning" % (", ".join(missing), FACTS_MODULE)
                )
            return out, False
        netstat = _netstat_of(task_vars)
        if netstat is not None:
            return {me: _report.plain(netstat)}, False
        return {me: _report.plain(self._gather(args["gather_options"], task_vars))}, True

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        del tmp
        _validation, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        dest = os.path.abspath(os.path.expanduser(args["dest"]))
        mode = _mode(args["mode"])

        facts_by_host, _gathered = self._collect(args, task_vars)
        try:
            learned = _baseline.learn(
                facts_by_host,
                name=args["name"],
                extends=args["extends"],
                headroom=args["headroom"],
                state_floor=args["state_floor"],
                require=args["require"],
            )
        except _baseline.BaselineError as exc:
            raise AnsibleActionFail(to_native(exc))
        text = _baseline.render(learned)

        # The learned policy must load like any policy (schema, semantics, extends relative to
        # dest) before it is written.
        try:
            _policy_loader.load_policies([yaml.safe_load(text)], base_dir=os.path.dirname(dest))
        except _policy_loader.PolicyError as exc:
            raise AnsibleActionFail("the learned policy does not load: %s" % to_native(exc))

        before = None
        if os.path.exists(dest):
            with open(dest, encoding="utf-8", errors="replace") as f:
                before = f.read()
        changed = before != text
        if changed and not self._task.check_mode:
            try:
                _report.write_files_atomic(os.path.dirname(dest), [(os.path.basename(dest), text)], mode, "policy")
            except _report.ReportError as exc:
                raise AnsibleActionFail(to_native(exc))
        if self._task.diff:
            result["diff"] = {
                "before": before or "",
                "after": text,
                "before_header": dest,
                "after_header": dest,
            }
        for warning in learned["warnings"]:
            self._display.warning(warning)
        result.update(
            changed=changed,
            dest=dest,
            hosts=learned["hosts"],
            policy=learned["policy"],
            listeners=len(learned["policy"]["listeners"]["allow"]),
        )
        return result
