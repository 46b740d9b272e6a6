#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: netstat_settle
short_description: Wait until a container's listening sockets settle, from outside the container
version_added: 0.1.0
description:
  - Samples the listeners of a container's network namespace from the Docker host (nothing runs
    or is installed in the container) until they settle, so that an audit that follows sees the
    container as it serves, not as it starts. With O(run_argv), O(gather) and O(remove) it is the
    whole run of the image gate (the C(netaudit.netstat.image_gate) playbook) in one step - start
    the container, wait, read its sockets, remove it whatever happened - and
    M(netaudit.netstat.netstat_audit) judges the facts it returns.
  - Settled means - the container runs; every port its image EXPOSEs listens (or, for an image that
    exposes none, at least O(min_listeners) sockets listen); and the listener set (protocol,
    address, port) is the same in O(samples) consecutive samples O(interval) seconds apart.
  - Fails when the container exits first (with its exit code and last log lines) or when it has not
    settled after O(timeout) seconds (with the listener sets seen).
author:
  - netaudit developers (@netaudit)
extends_documentation_fragment:
  - netaudit.netstat.attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
options:
  container:
    description: Name or id of the container.
    type: str
    required: true
  samples:
    description: How many consecutive samples must show the same listener set.
    type: int
    default: 3
  interval:
    description: Seconds between samples.
    type: float
    default: 0.5
  timeout:
    description: Seconds after which a container that has not settled is a failure.
    type: float
    default: 60
  min_listeners:
    description:
      - For an image that EXPOSEs no port, how many listeners must exist before the set can settle.
        Default 1; V(0) for an image that serves nothing.
    type: int
  log_lines:
    description: How many of the container's last log lines a failure reports.
    type: int
    default: 20
  container_socket:
    description: The UNIX socket of the Docker-compatible API.
    type: path
    default: /var/run/docker.sock
  run_argv:
    description:
      - Start the container first with this command (for example V(docker run --detach --name NAME
        IMAGE)); its failure fails the task with its output. Without it the container must be running.
    type: list
    elements: str
  gather:
    description:
      - Once settled, gather the container's sockets with M(netaudit.netstat.netstat_facts) and these
        options (O(netaudit.netstat.netstat_facts#module:namespaces) is the container's) and return
        them as RV(facts), for M(netaudit.netstat.netstat_audit) or M(netaudit.netstat.netstat_baseline).
    type: dict
  remove:
    description:
      - Remove the container (C(docker rm -f -v)) before returning, whatever happened - settled,
        exited, timed out or failed to gather. RV(removed) says whether that worked.
    type: bool
    default: false
notes:
  - Needs root on the Docker host (the container's namespace is entered from outside).
  - On a local connection without become, the action plugin does the work in the controller's
    process (the module's own code, no module shipped); elsewhere the module runs on the host.
seealso:
  - module: netaudit.netstat.netstat_facts
  - module: netaudit.netstat.netstat_audit
"""

EXAMPLES = r"""
- name: Wait until the container serves
  netaudit.netstat.netstat_settle:
    container: web-under-test
    samples: 3
    interval: 0.5
    timeout: 30
"""

RETURN = r"""
settled:
  description: Whether the container settled (always true when the module succeeds).
  returned: always
  type: bool
elapsed:
  description: Seconds from the first sample to the settled one (or to the failure).
  returned: always
  type: float
samples:
  description: Samples taken.
  returned: always
  type: int
rule:
  description: The settle rule that held (which ports, how many samples).
  returned: always
  type: str
listeners:
  description: The settled listener set, as C(proto address:port).
  returned: always
  type: list
  elements: str
facts:
  description: The settled container's C(ansible_facts.netstat), when O(gather) is set.
  returned: when O(gather) is set and the container settled
  type: dict
ran_on:
  description:
    - V(controller) when the action plugin did the work itself (local connection, no become), V(host)
      when the module ran on the host.
  returned: always
  type: str
removed:
  description: Whether the container was removed (O(remove=true)).
  returned: always
  type: bool
changes:
  description: Each listener set seen, with C(at) (seconds) and C(listeners).
  returned: always
  type: list
  elements: dict
container:
  description:
    - C(id), C(name), C(image), C(running), C(status), C(exit_code), C(pid), C(exposed), and C(logs)
      (the last O(log_lines) lines, on failure).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.netaudit.netstat.plugins.module_utils._settle import ARGUMENT_SPEC, run


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    result, error = run(module.params, run_command=module.run_command)
    if error is not None:
        module.fail_json(msg=error, **result)
    module.exit_json(changed=bool(module.params["run_argv"] or module.params["remove"]), **result)


if __name__ == "__main__":
    main()
