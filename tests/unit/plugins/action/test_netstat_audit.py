# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""netstat_audit through ansible-playbook (facts given, so no managed host is needed), plus the diff
helper on its own."""

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.netaudit.netstat.plugins.action.netstat_audit import listener_diff, with_playbook_vars
from ansible_collections.netaudit.netstat.plugins.module_utils import _policy as P

REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, os.pardir, os.pardir))
COLLECTIONS = os.path.join(REPO, ".venv", "collections")
PLAYBOOK_BIN = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")


def listener(port, name, address="0.0.0.0", proto="tcp"):
    return {
        "proto": proto,
        "family": "ipv4",
        "address": address,
        "port": port,
        "state": "LISTEN",
        "user": "root",
        "uid": 0,
        "processes": [{"pid": port, "name": name, "user": "root"}],
    }


FACTS = {
    "collector": {"complete": True, "reasons": []},
    "listeners": [listener(22, "sshd"), listener(8080, "python3"), listener(6379, "redis-server")],
    "unix": [],
    "counts": {"tcp": {s: 0 for s in P.TCP_STATE_NAMES}},
}
POLICY = """\
# test policy
policy: web
listeners:
  default: deny
  allow:
    - {proto: tcp, port: 22, program: sshd}
    - {proto: tcp, port: 443, program: nginx, required: true}
    - {proto: tcp, port: 6379, bind: loopback}
"""


def run_playbook(tmp_path, tasks, extra_args=(), policy=POLICY):
    (tmp_path / "files").mkdir(exist_ok=True)
    (tmp_path / "files" / "web.yml").write_text(policy)
    play = [{"hosts": "localhost", "gather_facts": False, "vars": {"netstat_facts": FACTS}, "tasks": tasks}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=COLLECTIONS,
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCALHOST_WARNING="0",
        ANSIBLE_DEPRECATION_WARNINGS="0",
    )
    cmd = [
        PLAYBOOK_BIN,
        "-i",
        "localhost,",
        "-c",
        "local",
        "-e",
        "ansible_python_interpreter=" + sys.executable,
        str(tmp_path / "play.yml"),
    ] + list(extra_args)
    proc = subprocess.run(
        cmd, cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120,
        check=False,
    )
    return proc


def audit_task(**args):
    args.setdefault("policy", "web.yml")
    args.setdefault("facts", "{{ netstat_facts }}")
    args.setdefault("today", "2026-06-01")
    return {"name": "audit", "netaudit.netstat.netstat_audit": args, "register": "audit", "ignore_errors": True}


def save_task(path):
    return {"ansible.builtin.copy": {"content": "{{ audit | to_json }}", "dest": str(path)}}


pytestmark = pytest.mark.skipif(not os.path.exists(PLAYBOOK_BIN), reason="ansible-playbook not installed next to python")


def test_audit_fails_on_errors_and_returns_findings(tmp_path):
    out = tmp_path / "result.json"
    proc = run_playbook(tmp_path, [audit_task(), save_task(out)])
    assert out.exists(), proc.stdout
    result = json.loads(out.read_text())
    assert result["failed"] is True
    assert result["compliant"] is False
    assert result["counts"] == {"error": 3, "warning": 0, "info": 0}
    assert [(f["rule"], f["subject"]) for f in result["findings"]] == [
        ("missing-listener", "tcp port 443"),
        ("unexpected-listener", "tcp 0.0.0.0:8080"),
        ("wrong-bind", "tcp 0.0.0.0:6379"),
    ]
    assert result["findings"][0]["source"] == "files/web.yml:7"
    assert result["policy_files"] == ["files/web.yml"]
    assert "findings" not in result["netstat_audit"]  # once, at the top of the result
    assert result["netstat_audit"]["verdict"] == result["verdict"]
    assert result["verdict"] == "drift" and result["fails"] is True
    assert result["msg"].startswith("DRIFT against web: 3 drift finding(s) at or above error")
    assert result["console"][1:] == ["  error %s %s: %s" % (f["rule"], f["subject"], f["message"]) for f in result["findings"]]
    assert "error unexpected-listener tcp 0.0.0.0:8080" in result["msg"]


def test_a_failing_audit_is_one_task_printed_expanded(tmp_path):
    """The audit fails the host itself (no verdict task after it): the default stdout callback
    prints its result expanded, a console line a line, never one line of JSON; a compliant audit
    prints `ok` and nothing else; the registered result carries no display marker."""
    out = tmp_path / "result.json"
    fail = audit_task()
    del fail["ignore_errors"]
    proc = run_playbook(tmp_path, [fail])
    assert proc.returncode == 2, proc.stdout
    lines = proc.stdout.splitlines()
    fatal = [i for i, line in enumerate(lines) if line.startswith("fatal: [localhost]: FAILED! =>")]
    assert len(fatal) == 1 and lines[fatal[0]].endswith("=> {"), proc.stdout
    assert '        "DRIFT against web: 3 drift finding(s) at or above error",' in lines, proc.stdout
    assert max(len(line) for line in lines) < 700
    compliant = audit_task(fail_on="never")
    proc = run_playbook(tmp_path, [compliant, save_task(out)])
    assert proc.returncode == 0, proc.stdout
    assert "ok: [localhost]\n" in proc.stdout and "DRIFT" not in proc.stdout, proc.stdout
    result = json.loads(out.read_text())
    assert "_ansible_verbose_always" not in result and result["verdict"] == "drift"
    proc = run_playbook(tmp_path, [audit_task(), save_task(out)])
    assert "_ansible_verbose_always" not in json.loads(out.read_text())


def test_playbook_vars_reads_the_hosts_netaudit_variables(tmp_path):
    """playbook_vars: the options the task does not set come from the host's netaudit_* variables
    (templated, as -e and group_vars give them); an option the task sets wins; without
    netaudit_policies the shipped default policy applies."""
    out = tmp_path / "result.json"
    task = {"name": "audit", "netaudit.netstat.netstat_audit": {"playbook_vars": True, "today": "2026-06-01"},
            "register": "audit", "ignore_errors": True, "vars": {"netaudit_facts": "{{ netstat_facts }}"}}
    extra = ["-e", '{"netaudit_policies": "[web.yml]", "netaudit_fail_on": "never"}']  # a flow list in a string, as -e k=v
    proc = run_playbook(tmp_path, [task, save_task(out)], extra)
    result = json.loads(out.read_text())
    assert result["policy_files"] == ["files/web.yml"], proc.stdout
    assert result["verdict"] == "drift" and result["fails"] is False and not result.get("failed"), proc.stdout
    task["netaudit.netstat.netstat_audit"]["fail_on"] = "error"  # the task's own option wins
    extra = ["-e", '{"netaudit_policies": ["web.yml"]}', "-e", "netaudit_fail_on=never"]
    proc = run_playbook(tmp_path, [task, save_task(out)], extra)
    result = json.loads(out.read_text())
    assert result["fails"] is True and result["failed"] is True, proc.stdout
    del task["netaudit.netstat.netstat_audit"]["fail_on"]
    proc = run_playbook(tmp_path, [task, save_task(out)])
    result = json.loads(out.read_text())
    assert result["policies"] == ["default"] and result["policy_files"] == ["netaudit.netstat/default.yml"], proc.stdout
    # a variable that cannot be templated fails the task with its name
    task["vars"]["netaudit_fail_on"] = "{{ no_such_variable }}"
    proc = run_playbook(tmp_path, [task, save_task(out)])
    result = json.loads(out.read_text())
    assert result["failed"] is True and "netaudit_fail_on" in result["msg"], proc.stdout


def test_with_playbook_vars_fills_only_what_the_task_leaves_out():
    host = {"netaudit_policies": ["a.yml"], "netaudit_connections": "compact", "netaudit_namespaces": "all",
            "netaudit_cache_facts": True}

    def read(name):
        return host[name]

    assert with_playbook_vars({}, read) == {"policy": ["a.yml"], "return_facts": True,
                                            "gather": {"connections": "compact", "namespaces": "all"}}
    assert with_playbook_vars({"policy": "b.yml", "gather": {"connections": "full", "samples": 3}}, read) == {
        "policy": "b.yml", "return_facts": True, "gather": {"connections": "full", "samples": 3, "namespaces": "all"}}
    assert with_playbook_vars({}, lambda name: {}[name]) == {"policy": "netaudit.netstat/default.yml"}
    # a gather that is not a mapping is left for the argument check to refuse
    assert with_playbook_vars({"gather": "x"}, read)["gather"] == "x"


def test_return_facts_with_nothing_to_cache_still_fails(tmp_path):
    """return_facts keeps a failing audit's task ok only when it returns facts for the cache (the
    fleet test checks that case); with the facts given there is nothing to cache, and it fails."""
    out = tmp_path / "result.json"
    proc = run_playbook(tmp_path, [audit_task(return_facts=True), save_task(out)])
    result = json.loads(out.read_text())
    assert result["fails"] is True and result["failed"] is True, proc.stdout
    assert "ansible_facts" not in result


def test_fail_on_never_and_inline_policy(tmp_path):
    out = tmp_path / "result.json"
    inline = {"listeners": {"default": "allow", "deny": [{"port": 8080, "severity": "warning"}]}}
    proc = run_playbook(tmp_path, [audit_task(policy=inline, fail_on="error"), save_task(out)])
    result = json.loads(out.read_text())
    assert not result.get("failed"), proc.stdout
    assert result["counts"]["warning"] == 1
    proc = run_playbook(tmp_path, [audit_task(policy=inline, fail_on="warning"), save_task(out)])
    assert json.loads(out.read_text())["failed"] is True


def test_invalid_policy_lists_every_error(tmp_path):
    out = tmp_path / "result.json"
    bad = "policy: x\nlisteners:\n  default: deyn\n  allow:\n    - {prot: tcp, port: 99999}\n"
    run_playbook(tmp_path, [audit_task(), save_task(out)], policy=bad)
    result = json.loads(out.read_text())
    assert result["failed"] is True
    assert result["msg"].splitlines()[0] == "invalid policy (3 problems):"
    assert "files/web.yml:3:12: listeners.default: 'deyn' is not one of allow, deny (did you mean 'deny'?)" in result["msg"]
    assert [(e["line"], e["column"]) for e in result["policy_errors"]] == [(3, 12), (5, 8), (5, 25)]
    assert "Traceback" not in result["msg"]


def test_missing_policy_file(tmp_path):
    out = tmp_path / "result.json"
    run_playbook(tmp_path, [audit_task(policy="nope.yml"), save_task(out)])
    result = json.loads(out.read_text())
    assert result["failed"] is True and "nope.yml not found" in result["msg"]


def test_check_and_diff_mode(tmp_path):
    proc = run_playbook(tmp_path, [audit_task(fail_on="never")], extra_args=["--check", "--diff"])
    assert proc.returncode == 0, proc.stdout
    assert "--- before: policy: expected listeners" in proc.stdout
    assert "+++ after: host: actual listeners" in proc.stdout
    assert "+tcp 0.0.0.0:8080 python3" in proc.stdout
    assert "-tcp 0.0.0.0:6379 redis-server (expected: bind loopback)" in proc.stdout
    assert "-tcp port 443 (required: tcp port 443 program nginx)" in proc.stdout


def test_bad_option(tmp_path):
    out = tmp_path / "result.json"
    run_playbook(tmp_path, [audit_task(fail_on="sometimes"), save_task(out)])
    result = json.loads(out.read_text())
    assert result["failed"] is True and "fail_on" in result["msg"]


def test_listener_diff_helper():
    result = P.evaluate(FACTS, yaml.safe_load(POLICY), today="2026-06-01")
    diff = listener_diff(FACTS, result)
    assert diff["after"].splitlines() == ["tcp 0.0.0.0:22 sshd", "tcp 0.0.0.0:6379 redis-server", "tcp 0.0.0.0:8080 python3"]
    assert diff["before"].splitlines() == [
        "tcp 0.0.0.0:22 sshd",
        "tcp 0.0.0.0:6379 redis-server (expected: bind loopback)",
        "tcp port 443 (required: tcp port 443 program nginx)",
    ]


@pytest.mark.parametrize(
    "path", ["plugins/modules/netstat_audit.py", "plugins/filter/netstat_drift.py", "plugins/test/netstat_compliant.py"]
)
def test_plugin_docs_are_yaml(path):
    import ast

    tree = ast.parse(open(os.path.join(REPO, path)).read())
    docs = {
        node.targets[0].id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) in ("DOCUMENTATION", "EXAMPLES", "RETURN")
    }
    assert sorted(docs) == ["DOCUMENTATION", "EXAMPLES", "RETURN"]
    for text in docs.values():
        assert yaml.safe_load(text)
    doc = yaml.safe_load(docs["DOCUMENTATION"])
    assert doc.get("module", doc.get("name")) == os.path.splitext(os.path.basename(path))[0]


def test_module_doc_matches_action_argument_spec():
    from ansible_collections.netaudit.netstat.plugins.action.netstat_audit import ARGUMENT_SPEC

    import ansible_collections.netaudit.netstat.plugins.modules.netstat_audit as mod

    options = yaml.safe_load(mod.DOCUMENTATION)["options"]
    assert sorted(options) == sorted(ARGUMENT_SPEC)
    for name, spec in ARGUMENT_SPEC.items():
        assert options[name]["type"] == spec["type"], name
        assert options[name].get("default") == spec.get("default"), name
        assert options[name].get("choices") == spec.get("choices"), name


def test_action_filter_and_test_find_relative_policies_alike(tmp_path):
    """`web.yml` (in the playbook's files/) is found by the action, the filter and the test; a
    missing one fails all three with the list of places searched."""
    out = tmp_path / "same.json"
    tasks = [
        audit_task(),
        {"ansible.builtin.set_fact": {
            "by_filter": "{{ netstat_facts | netaudit.netstat.netstat_drift('web.yml', today='2026-06-01') }}",
            "by_test": "{{ netstat_facts is netaudit.netstat.netstat_compliant('web.yml', today='2026-06-01') }}",
        }},
        {"ansible.builtin.copy": {"content": "{{ {'action': audit.findings, 'filter': by_filter, 'test': by_test} | to_json }}",
                                  "dest": str(out)}},
    ]
    proc = run_playbook(tmp_path, tasks)
    assert out.exists(), proc.stdout[-3000:]
    got = json.loads(out.read_text())
    assert got["action"] == got["filter"] and got["action"] and got["test"] is False

    missing = tmp_path / "missing.json"
    tasks = [
        audit_task(policy="nowhere.yml"),
        {"ansible.builtin.set_fact": {"f": "{{ netstat_facts | netaudit.netstat.netstat_drift('nowhere.yml') }}"},
         "register": "flt", "ignore_errors": True},
        {"ansible.builtin.copy": {"content": "{{ {'action': audit.msg, 'filter': flt.msg} | to_json }}", "dest": str(missing)}},
    ]
    proc = run_playbook(tmp_path, tasks)
    assert missing.exists(), proc.stdout[-3000:]
    msgs = json.loads(missing.read_text())
    for where, msg in msgs.items():
        assert "nowhere.yml not found; looked in: " in msg, (where, msg)
        assert str(tmp_path / "files") in msg, (where, msg)


def test_bundled_policy_in_extends(tmp_path):
    out = tmp_path / "r.json"
    policy = "policy: web\nextends: [netaudit.netstat/default.yml]\nlisteners:\n  default: deny\n"
    proc = run_playbook(tmp_path, [audit_task(), save_task(out)], policy=policy)
    assert out.exists(), proc.stdout[-3000:]
    result = json.loads(out.read_text())
    assert result["policies"] == ["default", "web"]
    assert result["policy_files"][0] == "netaudit.netstat/default.yml"
