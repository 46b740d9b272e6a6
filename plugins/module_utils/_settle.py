# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Wait until a container's sockets settle (the image gate), from outside the container.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
Standard library only: it runs on the Docker host (Python 3.8+).

The rule: the container is settled when

1. it is running (one that exits is a failure of its own, with its exit code and last log lines);
2. it is ready - every port its image EXPOSEs listens (TCP, or bound UDP), or, for an image that
   exposes none, at least `min_listeners` sockets listen (1 by default; 0 for an image that serves
   nothing);
3. and its listener set (protocol, address, port) has been the same in `samples` consecutive
   samples taken `interval` seconds apart.

Not settled within `timeout` seconds is a failure too, with the sets seen. The listeners are read
in the container's network namespace from the host (_gather with a pid: selector): nothing runs in
the container.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.netaudit.netstat.plugins.module_utils import _containers
from ansible_collections.netaudit.netstat.plugins.module_utils._common import NetstatError

# The options of netaudit.netstat.netstat_settle (the module and its action plugin share them).
ARGUMENT_SPEC = dict(
    container=dict(type="str", required=True),
    samples=dict(type="int", default=3),
    interval=dict(type="float", default=0.5),
    timeout=dict(type="float", default=60),
    min_listeners=dict(type="int"),
    log_lines=dict(type="int", default=20),
    container_socket=dict(type="path", default="/var/run/docker.sock"),
    run_argv=dict(type="list", elements="str"),
    gather=dict(type="dict"),
    remove=dict(type="bool", default=False),
)


class SettleError(NetstatError):
    """The container exited, or never settled; `result` has what was seen."""

    def __init__(self, message, result):
        super(SettleError, self).__init__(message)
        self.result = result


def _logs_tail(socket_path, cid, lines):
    """The last `lines` lines of a container's output (stdout and stderr), as text."""
    try:
        raw = _containers.api_raw(socket_path, "/containers/%s/logs?stdout=1&stderr=1&tail=%d" % (cid, int(lines)))
    except _containers.RuntimeError_ as exc:
        return ["(logs could not be read: %s)" % exc]
    return _containers.demux_logs(raw).decode("utf-8", "backslashreplace").splitlines()[-int(lines):]


def inspect(socket_path, name):
    """{id, name, image, running, status, exit_code, pid, exposed: [(proto, port)]} of a container."""
    raw = _containers.api_get(socket_path, "/containers/%s/json" % name)
    if not isinstance(raw, dict) or not isinstance(raw.get("Id"), str):
        raise NetstatError("%s: /containers/%s/json: not a container" % (socket_path, name))
    state = raw.get("State") if isinstance(raw.get("State"), dict) else {}
    config = raw.get("Config") if isinstance(raw.get("Config"), dict) else {}
    exposed = []
    for key in (config.get("ExposedPorts") or {}):
        port, sep, proto = str(key).partition("/")
        if port.isdigit():
            exposed.append((proto or "tcp", int(port)))
    return {
        "id": raw["Id"],
        "name": str(raw.get("Name") or "").lstrip("/") or None,
        "image": config.get("Image") if isinstance(config.get("Image"), str) else None,
        "running": bool(state.get("Running")),
        "status": state.get("Status"),
        "exit_code": state.get("ExitCode"),
        "pid": state.get("Pid") if isinstance(state.get("Pid"), int) else None,
        "exposed": sorted(exposed),
    }


def listener_set(pid, gather_listeners):
    """The (proto, address, port) of the listeners in the namespace of `pid`."""
    return sorted({(lst["proto"], lst["address"], lst["port"]) for lst in gather_listeners(pid)})


def wait(container, gather_listeners, socket_path=_containers.DEFAULT_SOCKETS[0], samples=3, interval=1.0,
         timeout=60.0, min_listeners=None, log_lines=20, clock=time.monotonic, sleep=time.sleep):
    """Wait until `container` settles (see the module docstring); the result dict, or SettleError.

    `gather_listeners(pid)` returns the listener dicts of the namespace of pid (the facts' shape).
    """
    started = clock()
    history = []  # [(seconds, listener set)] of every change
    previous = None
    stable = 0
    taken = 0
    info = None
    while True:
        info = inspect(socket_path, container)
        elapsed = round(clock() - started, 3)
        result = {"container": dict(info, logs=[]), "elapsed": elapsed, "samples": taken, "changes": [],
                  "listeners": [], "settled": False, "rule": None}
        if not info["running"] or not info["pid"]:
            result["container"]["logs"] = _logs_tail(socket_path, info["id"], log_lines)
            result["changes"] = [{"at": t, "listeners": ["%s %s:%s" % x for x in s]} for t, s in history]
            raise SettleError(
                "container %s exited (status %s, exit code %s) after %.1f s, before its sockets settled; last log "
                "lines: %s" % (info["name"] or container, info["status"], info["exit_code"], elapsed,
                               " | ".join(result["container"]["logs"][-5:]) or "(none)"), result)
        try:
            current = listener_set(info["pid"], gather_listeners)
        except (NetstatError, OSError) as exc:
            # the process may have just exited: the next inspect says so
            current = None
            result["error"] = str(exc)
        taken += 1
        if current is not None:
            if current != previous:
                history.append((elapsed, current))
                stable = 1
            else:
                stable += 1
            previous = current
            ports = {(proto, port) for proto, dummy, port in current}
            if info["exposed"]:
                missing = [e for e in info["exposed"] if e not in ports]
                ready = not missing
                rule = "every exposed port listens (%s)" % ", ".join("%d/%s" % (p, pr) for pr, p in info["exposed"])
            else:
                need = 1 if min_listeners is None else int(min_listeners)
                ready = len(current) >= need
                rule = "at least %d listener(s)" % need
            rule += ", unchanged over %d samples %.1f s apart" % (samples, interval)
            if ready and stable >= samples:
                result.update(settled=True, samples=taken, rule=rule, listeners=["%s %s:%s" % x for x in current],
                              changes=[{"at": t, "listeners": ["%s %s:%s" % x for x in s]} for t, s in history])
                return result
        if clock() - started >= timeout:
            result.update(samples=taken, rule=rule if current is not None else None,
                          listeners=["%s %s:%s" % x for x in previous or []],
                          changes=[{"at": t, "listeners": ["%s %s:%s" % x for x in s]} for t, s in history])
            result["container"]["logs"] = _logs_tail(socket_path, info["id"], log_lines)
            why = []
            if current is not None and info["exposed"] and not ready:
                why.append("exposed port(s) not listening: %s" % ", ".join("%d/%s" % (p, pr) for pr, p in missing))
            elif current is not None and not ready:
                why.append("fewer than %d listener(s)" % need)
            if len(history) > 1:
                why.append("the listener set changed %d time(s)" % (len(history) - 1))
            raise SettleError(
                "container %s did not settle within %.0f s (%s); last listeners: %s" % (
                    info["name"] or container, timeout, "; ".join(why) or "no stable sample",
                    ", ".join(result["listeners"]) or "none"), result)
        sleep(interval)


def _namespace_listeners(pid):
    from ansible_collections.netaudit.netstat.plugins.module_utils._gather import Options, gather

    opts = Options(protocols=("tcp", "udp"), connections="none", unix="none", owners=False,
                   namespaces=["pid:%d" % pid], container_runtime="none")
    facts = gather(opts)
    spaces = facts.get("namespaces") or []
    if not spaces or not spaces[0].get("complete", True):
        raise NetstatError("; ".join(facts["collector"]["reasons"]) or "the namespace could not be read")
    return facts["listeners"]


def run(params, run_command):
    """netstat_settle's work: (result, error message or None). Start the container (run_argv,
    through `run_command(argv) -> (rc, stdout, stderr)`: the module's, or the action plugin's),
    wait until it settles, gather its facts (gather), remove it (remove) whatever happened."""
    from ansible_collections.netaudit.netstat.plugins.module_utils._gather import Options, gather

    p = params
    if p["samples"] < 1 or p["interval"] < 0 or p["timeout"] <= 0 or p["log_lines"] < 0 or (
            p["min_listeners"] is not None and p["min_listeners"] < 0):
        return {"settled": False, "removed": False}, (
            "samples must be >= 1, interval >= 0, timeout > 0, log_lines and min_listeners >= 0")
    result = {"settled": False, "removed": False}
    error = None
    try:
        if p["run_argv"]:
            rc, out, err = run_command(list(p["run_argv"]))
            if rc != 0:
                raise NetstatError("the container could not be started (%s exited %d): %s" % (
                    p["run_argv"][0], rc, (err or out).strip()[-2000:]))
        result.update(wait(p["container"], _namespace_listeners, socket_path=p["container_socket"],
                           samples=p["samples"], interval=p["interval"], timeout=p["timeout"],
                           min_listeners=p["min_listeners"], log_lines=p["log_lines"]))
        if p["gather"] is not None:
            options = dict(p["gather"])
            options["namespaces"] = ["container:%s" % p["container"]]
            options.setdefault("container_sockets", [p["container_socket"]])
            try:
                result["facts"] = gather(Options(**options))
            except TypeError as exc:
                raise NetstatError("gather: %s (the options of netaudit.netstat.netstat_facts)" % exc)
    except SettleError as exc:
        result.update(exc.result)
        error = str(exc)
    except (NetstatError, OSError) as exc:
        error = str(exc)
    finally:
        if p["remove"]:
            try:
                _containers.remove_container(p["container_socket"], p["container"])
                result["removed"] = True
            except _containers.RuntimeError_ as exc:
                result["remove_error"] = str(exc)
    return result, error
