# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The module as Ansible runs it (an args file), on a fixture procfs tree."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
MODULE = os.path.join(REPO, "plugins", "modules", "netstat_facts.py")
sys.path.insert(0, os.path.join(REPO, "tests", "unit", "plugins", "module_utils"))

from test_gather import make_proc  # noqa: E402
from test_procfs import tcp_line  # noqa: E402


def run_module(tmp_path, args):
    argsfile = tmp_path / "args.json"
    argsfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, ".venv", "collections"))
    res = subprocess.run([sys.executable, MODULE, str(argsfile)], capture_output=True, text=True, env=env, check=False)
    return json.loads(res.stdout)


@pytest.fixture
def proc(tmp_path):
    root = tmp_path / "proc"
    root.mkdir()
    return make_proc(root, {10: dict(comm="sshd", fds=[5])},
                     tcp=[tcp_line(0, "00000000:0016", "00000000:0000", 0x0A, inode=5)])


def test_module_returns_one_fact_key(tmp_path, proc):
    out = run_module(tmp_path, {"backend": "procfs", "proc_root": proc, "_ansible_check_mode": True})
    assert out["changed"] is False
    assert list(out["ansible_facts"]) == ["netstat"]
    facts = out["ansible_facts"]["netstat"]
    assert facts["listeners"][0]["processes"][0]["name"] == "sshd"
    assert facts["collector"]["backend"] == "procfs"


def test_module_rejects_bad_choice(tmp_path, proc):
    out = run_module(tmp_path, {"connections": "everything"})
    assert out["failed"] is True
    assert "connections" in out["msg"] and "Traceback" not in out["msg"]


def test_module_reports_parse_problems_as_warnings(tmp_path):
    root = tmp_path / "proc"
    root.mkdir()
    proc = make_proc(root, {}, tcp=["junk line\n"])
    out = run_module(tmp_path, {"backend": "procfs", "proc_root": proc})
    assert out["ansible_facts"]["netstat"]["collector"]["complete"] is False
    assert any("tcp:2" in json.dumps(w) for w in out.get("warnings", []))


@pytest.mark.parametrize("run_name, enabled", [("__main__", False), ("netstat_facts", True)])
def test_garbage_collector_off_only_when_run_as_the_module(tmp_path, proc, run_name, enabled):
    """As the module (AnsiballZ runs it as __main__) the cyclic GC is off for the whole run;
    imported (tests, ansible-test) it leaves the importer's GC alone."""
    argsfile = tmp_path / "args.json"
    argsfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"backend": "procfs", "proc_root": proc}}))
    driver = ("import atexit, gc, runpy, sys\n"
              "atexit.register(lambda: sys.stderr.write('gc-enabled=' + str(gc.isenabled()) + '\\n'))\n"
              "sys.argv = [sys.argv[1], sys.argv[2]]\n"
              "runpy.run_path(sys.argv[0], run_name=" + repr(run_name) + ")\n")
    env = dict(os.environ, PYTHONPATH=os.path.join(REPO, ".venv", "collections"))
    res = subprocess.run([sys.executable, "-c", driver, MODULE, str(argsfile)], capture_output=True, text=True,
                         env=env, check=False)
    assert "gc-enabled=%s" % enabled in res.stderr.splitlines(), res.stderr
    if run_name == "__main__":  # and the module did its job
        assert json.loads(res.stdout)["ansible_facts"]["netstat"]["listeners"][0]["processes"][0]["name"] == "sshd"
