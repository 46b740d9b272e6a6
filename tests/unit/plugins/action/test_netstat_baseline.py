# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netstat_baseline action through ansible-playbook on the local host, with real sockets:
the learned policy audits the host clean, and a listener opened afterwards is drift."""

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap

import pytest

_REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
_COLLECTIONS = os.path.join(_REPO, ".venv", "collections")
try:
    import ansible_collections.netaudit.netstat  # noqa: F401  # pylint: disable=unused-import
except ImportError:  # not run through ansible-test: use the checkout's collections link
    sys.path.insert(0, _COLLECTIONS)

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _policy_loader

ANSIBLE_PLAYBOOK = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
pytestmark = pytest.mark.skipif(
    not os.path.exists(ANSIBLE_PLAYBOOK) or not os.path.isdir(os.path.join(_COLLECTIONS, "ansible_collections")),
    reason="needs ansible-playbook and the collection link in .venv/collections",
)


def run_playbook(tmp_path, tasks, *extra):
    playbook = tmp_path / "play.yml"
    playbook.write_text("- hosts: localhost\n  gather_facts: false\n  tasks:\n" + textwrap.indent(textwrap.dedent(tasks), "    "))
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=_COLLECTIONS,
        ANSIBLE_LOCALHOST_WARNING="False",
        ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
        ANSIBLE_NOCOLOR="1",
    )
    return subprocess.run(
        [ANSIBLE_PLAYBOOK, "-i", "localhost,", "-c", "local", "-e", "ansible_python_interpreter=" + sys.executable, str(playbook)]
        + list(extra),
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def gather(tmp_path):
    out = tmp_path / "facts.json"
    proc = run_playbook(
        tmp_path,
        f"""\
        - netaudit.netstat.netstat_facts:
        - ansible.builtin.copy:
            content: "{{{{ ansible_facts.netstat | to_json }}}}"
            dest: {out}
        """,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(out.read_text())


def listen():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    return s


def test_learn_then_audit(tmp_path):
    first = listen()
    second = None
    try:
        proc = run_playbook(
            tmp_path,
            """\
            - netaudit.netstat.netstat_baseline:
                dest: learned/golden.yml
                name: golden
              register: learned
            - ansible.builtin.assert:
                that: [learned.changed, learned.listeners >= 1]
            - netaudit.netstat.netstat_baseline:
                dest: learned/golden.yml
                name: golden
              register: again
            - ansible.builtin.assert:
                that: [again is not changed]
            """,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        path = tmp_path / "learned" / "golden.yml"
        text = path.read_text()
        port = first.getsockname()[1]
        assert f"port: {port}," in text
        layers = _policy_loader.load_policies([str(path)]).layers

        result = _policy.evaluate(gather(tmp_path), layers)
        assert result["compliant"] is True, result["findings"]
        assert [f for f in result["findings"] if f["severity"] == "error"] == []

        second = listen()
        result = _policy.evaluate(gather(tmp_path), layers)
        subjects = [f["subject"] for f in result["findings"] if f["rule"] == "unexpected-listener"]
        assert subjects == [f"tcp 127.0.0.1:{second.getsockname()[1]}"]
        assert result["compliant"] is False
    finally:
        first.close()
        if second is not None:
            second.close()


def test_check_mode_writes_nothing(tmp_path):
    proc = run_playbook(
        tmp_path,
        """\
        - netaudit.netstat.netstat_baseline:
            dest: learned/check.yml
          register: learned
        - ansible.builtin.assert:
            that: [learned.changed]
        """,
        "--check",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not (tmp_path / "learned" / "check.yml").exists()


def test_given_facts_and_missing_hosts(tmp_path):
    facts = {
        "collector": {"backend": "procfs", "complete": True},
        "listeners": [
            {
                "proto": "tcp",
                "family": "ipv4",
                "address": "0.0.0.0",
                "port": 22,
                "user": "root",
                "uid": 0,
                "exposure": "wildcard",
                "processes": [{"pid": 1, "name": "sshd", "user": "root"}],
            }
        ],
        "counts": {"tcp": {"TIME_WAIT": 7}},
    }
    (tmp_path / "facts.json").write_text(json.dumps(facts))
    proc = run_playbook(
        tmp_path,
        """\
        - netaudit.netstat.netstat_baseline:
            dest: given.yml
            facts: "{{ lookup('file', 'facts.json') | from_json }}"
        - netaudit.netstat.netstat_baseline:
            dest: group.yml
            hosts: [localhost, nowhere]
          ignore_errors: true
          register: missing
        - ansible.builtin.assert:
            that:
              - missing is failed
              - "'nowhere' in missing.msg"
        """,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (tmp_path / "given.yml").read_text()
    assert "{proto: tcp, port: 22, bind: any, program: sshd, user: root, required: true}" in text
    assert not (tmp_path / "group.yml").exists()


def test_baseline_playbook_union(tmp_path):
    """The collection playbook, union mode, on two local hosts."""
    inventory = tmp_path / "hosts.ini"
    host = f"ansible_connection=local ansible_python_interpreter={sys.executable}"
    inventory.write_text(f"h1 {host}\nh2 {host}\n")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=_COLLECTIONS, ANSIBLE_NOCOLOR="1")
    proc = subprocess.run(
        [
            ANSIBLE_PLAYBOOK,
            "-i",
            str(inventory),
            "netaudit.netstat.baseline",
            "-e",
            "netaudit_baseline_union=true",
            "-e",
            "netaudit_baseline_name=pair",
        ],
        env=env,
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = (tmp_path / "policies" / "learned" / "pair.yml").read_text()
    assert "# Hosts: h1, h2" in text
    _policy_loader.load_policies([str(tmp_path / "policies" / "learned" / "pair.yml")])
    shutil.rmtree(tmp_path / "policies")
