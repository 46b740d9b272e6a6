# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of netaudit.netstat.netstat_settle.

On a host reached through the local connection without become (the image gate on the CI runner
itself), the work runs in this process: the module's own code (module_utils/_settle.run), without
the cost of shipping and starting a module, which is most of what the gate adds to `docker run`.
Anywhere else (a remote Docker host, become) the module runs on the host as usual.
"""

from __future__ import annotations

import subprocess

from ansible.plugins.action import ActionBase

from ansible_collections.netaudit.netstat.plugins.module_utils._settle import ARGUMENT_SPEC, run


def _run_command(argv):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    return proc.returncode, proc.stdout.decode("utf-8", "replace"), proc.stderr.decode("utf-8", "replace")


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        local = getattr(self._connection, "transport", None) == "local" and not self._play_context.become
        if not local:
            result.update(self._execute_module(module_name="netaudit.netstat.netstat_settle",
                                               module_args=self._task.args, task_vars=task_vars))
            result["ran_on"] = "host"
            return result
        validation, params = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        del validation
        out, error = run(params, _run_command)
        result.update(out)
        result["changed"] = bool(params["run_argv"] or params["remove"])
        result["ran_on"] = "controller"
        if error is not None:
            result["failed"] = True
            result["msg"] = error
        return result
