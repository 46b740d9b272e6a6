# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of netaudit.netstat.netstat_report_merge: slices' report.json -> one fleet report."""

from __future__ import annotations

from ansible.plugins.action import ActionBase

from ansible_collections.netaudit.netstat.plugins.plugin_utils import _fleet, _report

ARGUMENT_SPEC = {
    "slices": {"type": "list", "elements": "path", "required": True},
    "dest": {"type": "path", "required": True},
    "expect_hosts": {"type": "list", "elements": "str", "default": []},
    "formats": {"type": "list", "elements": "str", "default": list(_report.FORMATS),
                "choices": list(_report.FORMATS)},
    "junit_fail_on": {"type": "str", "default": "error", "choices": ["error", "warning", "info"]},
    "compare_with": {"type": "path"},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        try:
            model = _fleet.merge_files(args["slices"], expected_hosts=args["expect_hosts"],
                                       compare_with=args["compare_with"])
            files = {} if self._task.check_mode else _report.write_reports(
                model, args["dest"], formats=args["formats"], fail_on=args["junit_fail_on"])
        except (_fleet.MergeError, _report.ReportError) as exc:
            result.update(failed=True, msg=str(exc))
            return result
        result.update(changed=not self._task.check_mode, verdict=model["verdict"], summary=model["summary"],
                      merged=model["merged"], files=dict(files))
        return result
