# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Action plugin of netaudit.netstat.netstat_audit: load the policy on the controller, gather (or
take) ansible_facts.netstat, evaluate, report. Documentation: plugins/modules/netstat_audit.py."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleActionFail, AnsibleConnectionFailure, AnsibleError
from ansible.module_utils.common.text.converters import to_text
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.action import ActionBase

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _policy_loader
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _audit

_policy_loader.warm()

FACTS_MODULE = "netaudit.netstat.netstat_facts"
RESULT_KEY = "netstat_audit"
# `policy: netaudit.netstat/default.yml` names a policy shipped with the collection.
BUNDLED_PREFIX = _policy_loader.BUNDLED_PREFIX
BUNDLED_DIR = _policy_loader.BUNDLED_DIR

LISTENER_RULES = ("unexpected-listener", "forbidden-listener", "wrong-owner", "wrong-user", "wrong-bind")

ARGUMENT_SPEC = {
    "policy": {"type": "raw", "required": True},
    "playbook_vars": {"type": "bool", "default": False},
    "facts": {"type": "dict"},
    "fail_on": {"type": "str", "default": "error", "choices": ["error", "warning", "info", "never"]},
    "allow_incomplete": {"type": "bool", "default": False},
    "today": {"type": "str"},
    "max_facts_age": {"type": "raw"},
    "return_facts": {"type": "bool", "default": False},
    "gather": {"type": "dict", "default": {}},
}


# playbook_vars: option <- the host variable of the collection's playbooks (and the default when the
# variable is not defined, else the option's own)
PLAYBOOK_VARS = (
    ("policy", "netaudit_policies", "netaudit.netstat/default.yml"),
    ("fail_on", "netaudit_fail_on", None),
    ("return_facts", "netaudit_cache_facts", None),
    ("facts", "netaudit_facts", None),
    ("max_facts_age", "netaudit_max_facts_age", None),
)
PLAYBOOK_GATHER_VARS = (
    ("connections", "netaudit_connections"),
    ("services", "netaudit_services"),
    ("namespaces", "netaudit_namespaces"),
)


def with_playbook_vars(args, read):
    """The task's arguments with each option it does not set taken from the host's variable
    (PLAYBOOK_VARS). `read(name)` returns the variable's value, templated, or raises KeyError when
    it is not defined."""
    args = dict(args)
    for option, name, default in PLAYBOOK_VARS:
        if option in args:
            continue
        try:
            args[option] = read(name)
        except KeyError:
            if default is not None:
                args[option] = default
    gather = args.get("gather")
    if gather is None or isinstance(gather, dict):
        gather = dict(gather or {})
        for option, name in PLAYBOOK_GATHER_VARS:
            if option not in gather:
                try:
                    gather[option] = read(name)
                except KeyError:
                    pass
        if gather:
            args["gather"] = gather
    return args


def _seconds(value):
    try:
        return _audit.parse_duration(value)
    except ValueError as exc:
        raise AnsibleActionFail(str(exc))


def _listener_line(lst):
    names = sorted({p.get("name") for p in lst.get("processes") or [] if p.get("name")})
    return "%s %s %s" % (
        lst.get("proto"),
        _policy._endpoint(lst.get("address"), lst.get("port")),
        ",".join(names) or "(owner unknown)",
    )


def listener_diff(facts, result):
    """{before, after} text tables: the listeners the policy expects vs the ones found."""
    if "netstat" in facts and "listeners" not in facts:
        facts = facts["netstat"]
    by_subject = {}
    missing = []
    for f in result["findings"]:
        if f["waived"] is not None:
            continue
        if f["rule"] == "missing-listener":
            missing.append("%s (required: %s)" % (f["subject"], f["expected"].replace("listening: ", "")))
        elif f["rule"] in LISTENER_RULES:
            by_subject.setdefault(f["subject"], []).append(f)
    before, after = [], []
    for lst in facts.get("listeners") or []:
        line = _listener_line(lst)
        after.append(line)
        flagged = by_subject.get("%s %s" % (lst.get("proto"), _policy._endpoint(lst.get("address"), lst.get("port"))))
        if not flagged:
            before.append(line)
            continue
        wants = [f["expected"] for f in flagged if f["rule"].startswith("wrong-")]
        if wants:  # the same socket, but as the policy wants it
            before.append("%s (expected: %s)" % (line, "; ".join(wants)))
        # unexpected / forbidden: the policy expects no such listener
    before.extend(missing)
    return {
        "before_header": "policy: expected listeners",
        "after_header": "host: actual listeners",
        "before": "\n".join(sorted(before)) + "\n",
        "after": "\n".join(sorted(after)) + "\n",
    }


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(ARGUMENT_SPEC)
    _requires_connection = True

    def _gather(self, policy_layers, gather_args, task_vars):
        module_args = dict(gather_args or {})
        needed = _policy.connections_mode_needed(policy_layers)
        if needed and module_args.get("connections") not in ("full", "compact"):
            module_args["connections"] = needed
        res = self._execute_module(module_name=FACTS_MODULE, module_args=module_args, task_vars=task_vars)
        if res.get("failed"):
            detail = to_text(res.get("msg") or res)
            stderr = to_text(res.get("module_stderr") or "").strip()
            if stderr:
                detail += " (module stderr: %s)" % stderr.splitlines()[0]
            raise AnsibleActionFail("gathering socket facts with %s failed: %s" % (FACTS_MODULE, detail))
        facts = (res.get("ansible_facts") or {}).get("netstat")
        if not isinstance(facts, dict):
            raise AnsibleActionFail("%s returned no ansible_facts.netstat" % FACTS_MODULE)
        return facts

    def _playbook_var(self, task_vars, name):
        """A host variable for playbook_vars, templated (ansible-core before 2.19 hands task_vars
        over untemplated); KeyError when it is not defined."""
        if name not in task_vars:
            raise KeyError(name)
        try:
            return self._templar.template(task_vars[name])
        except AnsibleError as exc:
            raise AnsibleActionFail("playbook_vars: the variable %s cannot be read: %s" % (name, to_text(exc)))

    def run(self, tmp=None, task_vars=None):
        self._supports_check_mode = True
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        try:
            if boolean(self._task.args.get("playbook_vars", False), strict=False):
                self._task.args = with_playbook_vars(self._task.args, lambda name: self._playbook_var(task_vars, name))
            dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        except AnsibleActionFail as exc:
            result.update(failed=True, msg=to_text(exc))
            return result
        result["changed"] = False

        # 1. the policy, on the controller
        try:
            playbook_dir = task_vars.get("playbook_dir") or self._loader.get_basedir()
            loaded = _policy_loader.load_policies(
                args["policy"],
                display_base=self._loader.get_basedir(),
                dirs=_policy_loader.search_dirs(playbook_dir),
            )
        except _policy_loader.PolicyError as exc:
            result.update(
                failed=True,
                policy_errors=[i.as_dict() for i in exc.issues],
                msg="invalid policy (%d problem%s):\n%s" % (len(exc.issues), "" if len(exc.issues) == 1 else "s", to_text(exc)),
            )
            return result

        # 2. the facts: given, or gathered on the host now
        facts = args.get("facts")
        try:
            if facts is None:
                facts = self._gather(loaded.layers, args.get("gather"), task_vars)
            # 3. evaluate
            host = _audit.audit(
                facts,
                loaded,
                fail_on=args["fail_on"],
                allow_incomplete=args["allow_incomplete"],
                today=args.get("today"),
                max_age=_seconds(args.get("max_facts_age")),
            )
        except _policy.PolicyEvalError as exc:
            result.update(failed=True, msg="cannot evaluate the policy: %s" % to_text(exc))
            return result
        except AnsibleActionFail as exc:
            result.update(failed=True, msg=to_text(exc))
            return result
        except AnsibleConnectionFailure:
            raise  # the host is unreachable, not failed: let Ansible say so
        except AnsibleError as exc:
            result.update(failed=True, msg=to_text(exc))
            return result

        failed = host["fails"]
        console = host.pop("console")
        result.update(
            verdict=host["verdict"],
            compliant=host["compliant"],
            fails=failed,
            counts=host["counts"],
            waived=host["waived"],
            findings=host["findings"],
            summary=host["summary"],
            policies=host["policies"],
            policy_files=host["policy_files"],
        )
        # the host result for the report callback, without a second copy of the findings (they are
        # the task's `findings`): a failed task prints its whole result
        result[RESULT_KEY] = dict((k, v) for k, v in host.items() if k != "findings")
        if args["return_facts"] and args.get("facts") is None:
            result["ansible_facts"] = {"netstat": facts}  # for a fact cache: a later re-audit reads them
        if self._task.diff:
            diff = listener_diff(facts, host)
            result["diff"] = diff
            # Ansible only displays a diff for a changed task: in diff mode, listener drift is a change.
            result["changed"] = diff["before"] != diff["after"]
        result["console"] = console
        result["msg"] = "\n".join(console)
        # Ansible caches the facts of a task that succeeds only: a result that returns them for the
        # fact cache does not fail (`fails` says it should; the audit playbook fails the host later).
        if failed and "ansible_facts" not in result:
            result["failed"] = True
            # Ansible prints a failed task's whole result: expanded (a key, a console line a line)
            # as `debug` does, not one line of JSON.
            result["_ansible_verbose_always"] = True
        return result
