# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The netstat_report callback: which hosts it reports and how, driven with stand-in task
results (no ansible-playbook run), then once through ansible-playbook itself."""

import json
import os
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

pytest.importorskip("ansible")

import yaml  # noqa: E402
from ansible import constants as C  # noqa: E402

from ansible_collections.netaudit.netstat.plugins.callback import (  # noqa: E402
    netstat_report,
)

# What the plugin loader does when it loads the callback: register its documented options.
LOAD_NAME = "netaudit.netstat.netstat_report"
C.config.initialize_plugin_configuration_definitions(
    "callback", LOAD_NAME, yaml.safe_load(netstat_report.DOCUMENTATION)["options"]
)


def new_callback():
    cb = netstat_report.CallbackModule(display=FakeDisplay())
    cb._load_name = LOAD_NAME
    return cb


HOSTILE = "<script>alert(1)</script> ]]> | `x` \x00\x1b[31m " + "L" * 3000


class FakeHost:
    def __init__(self, name):
        self.name = name

    def get_name(self):
        return self.name


class FakeTask:
    def __init__(self, action, name=None):
        self.action = action
        self.resolved_action = action if "." in action else "ansible.builtin." + action
        self.name = name or action

    def get_name(self):
        return self.name


class FakeResult:
    """What ansible-core 2.19 hands to callbacks (host, task, result)."""

    def __init__(self, host, task, result):
        self.host = FakeHost(host)
        self.task = task
        self.result = result


class LegacyResult:
    """What ansible-core before 2.19 hands to callbacks (_host, _task, _result)."""

    def __init__(self, host, task, result):
        self._host = FakeHost(host)
        self._task = task
        self._result = result


class FakeBlock:
    def __init__(self, tasks):
        self.block = tasks
        self.rescue = []
        self.always = []


class FakeInventory:
    def __init__(self, hosts):
        self.hosts = hosts

    def get_hosts(self, pattern, order=None):
        return [FakeHost(h) for h in self.hosts]


class FakeVariableManager:
    def __init__(self, hosts):
        self._inventory = FakeInventory(hosts)


class FakePlay:
    def __init__(self, hosts, tasks):
        self.hosts = "all"
        self.order = None
        self._vm = FakeVariableManager(hosts)
        self._tasks = tasks

    def get_variable_manager(self):
        return self._vm

    def compile(self):
        return [FakeBlock(self._tasks)]


class FakeDisplay:
    verbosity = 0

    def __init__(self):
        self.lines = []
        self.errors = []

    def display(self, msg, *a, **kw):
        self.lines.append(msg)

    def error(self, msg, *a, **kw):
        self.errors.append(msg)

    def warning(self, msg, *a, **kw):
        self.lines.append(msg)

    def vvv(self, msg, *a, **kw):
        self.lines.append(msg)

    def __getattr__(self, name):
        return lambda *a, **kw: None


AUDIT = FakeTask("netaudit.netstat.netstat_audit", "audit sockets")
FACTS = FakeTask("netaudit.netstat.netstat_facts", "gather socket facts")
SETUP = FakeTask("command", "prepare")


def audit_result(compliant=True, findings=(), failed=False):
    counts = {"error": 0, "warning": 0, "info": 0}
    for f in findings:
        counts[f["severity"]] += 1
    body = {"compliant": compliant, "counts": counts, "findings": list(findings)}
    result = dict(body, netstat_audit=dict(body), changed=False)
    if failed:
        result.update(failed=True, msg="NOT compliant")
    return result


STRAY = {
    "rule": "unexpected-listener",
    "severity": "error",
    "subject": "tcp 0.0.0.0:8080",
    "expected": "no listener",
    "actual": "listening: python3 (pid 4242, user root)",
    "message": "tcp 0.0.0.0:8080 is open but no allow rule matches it",
    "source": "policies/default.yml:7",
    "waived": None,
}


def make_callback(tmp_path, **options):
    cb = new_callback()
    opts = {"report_dir": str(tmp_path / "reports")}
    opts.update(options)
    cb.set_options(direct=opts)
    return cb


def run_fleet(cb, result_cls=FakeResult):
    hosts = ["clean", "drift", "down", "broken", "skipme", "hostile"]
    cb.v2_playbook_on_start(type("PB", (), {"_file_name": "audit.yml"})())
    # a setup play on another host: not part of the report
    cb.v2_playbook_on_play_start(FakePlay(["localhost"], [SETUP]))
    cb.v2_runner_on_ok(result_cls("localhost", SETUP, {"changed": True}))
    # the audit play
    cb.v2_playbook_on_play_start(FakePlay(hosts, [FACTS, AUDIT]))
    cb.v2_playbook_on_task_start(FACTS, False)
    facts = {
        "ansible_facts": {
            "netstat": {
                "collector": {"backend": "procfs", "complete": True},
                "listeners": [{}, {}],
                "counts": {"tcp": {"LISTEN": 2}},
            }
        }
    }
    for h in ("clean", "drift", "skipme", "hostile"):
        cb.v2_runner_on_ok(result_cls(h, FACTS, facts))
    cb.v2_runner_on_unreachable(result_cls("down", FACTS, {"unreachable": True, "msg": "ssh: connect to host down: " + HOSTILE}))
    cb.v2_runner_on_failed(result_cls("broken", FACTS, {"failed": True, "msg": "boom " + HOSTILE}))
    cb.v2_playbook_on_task_start(AUDIT, False)
    cb.v2_runner_on_ok(result_cls("clean", AUDIT, audit_result()))
    cb.v2_runner_on_failed(result_cls("drift", AUDIT, audit_result(False, [STRAY], failed=True)), ignore_errors=False)
    hostile = dict(STRAY, actual="listening: " + HOSTILE + " (pid 1)", message=HOSTILE)
    cb.v2_runner_on_ok(result_cls("hostile", AUDIT, audit_result(False, [hostile])))
    cb.v2_runner_on_skipped(result_cls("skipme", AUDIT, {"skipped": True}))
    cb.v2_playbook_on_stats(type("Stats", (), {"processed": dict.fromkeys(hosts + ["localhost"], 1)})())


@pytest.mark.parametrize("result_cls", [FakeResult, LegacyResult])
def test_fleet_report(tmp_path, result_cls):
    cb = make_callback(tmp_path)
    run_fleet(cb, result_cls)
    out = tmp_path / "reports"
    assert _report_names(out) == ["junit.xml", "report.html", "report.json", "report.md", "report.sarif"]
    report = json.loads((out / "report.json").read_text())
    hosts = {h["host"]: h for h in report["hosts"]}
    assert set(hosts) == {"clean", "drift", "down", "broken", "skipme", "hostile"}  # no localhost
    assert hosts["clean"]["verdict"] == "compliant"
    assert hosts["drift"]["verdict"] == "drift"  # audit failed on findings: still audited
    assert hosts["drift"]["findings"][0]["subject"] == "tcp 0.0.0.0:8080"
    assert hosts["down"]["status"] == "unreachable" and hosts["down"]["compliant"] is False
    assert "ssh: connect to host down" in hosts["down"]["error"]
    assert hosts["broken"]["status"] == "failed"
    assert hosts["broken"]["error"].startswith("task 'gather socket facts': boom")
    assert hosts["skipme"]["status"] == "skipped"
    assert hosts["clean"]["facts"]["backend"] == "procfs"
    assert hosts["clean"]["facts"]["listeners"] == 2
    assert report["playbook"] == "audit.yml"
    assert report["compliant"] is False
    for name in ("junit.xml", "report.md", "report.html"):
        text = (out / name).read_text()
        assert "down" in text and "<script>alert" not in text
    assert any("fleet NOT compliant" in line for line in cb._display.lines)


def test_junit_from_callback_validates(tmp_path):
    etree = pytest.importorskip("lxml.etree")
    cb = make_callback(tmp_path)
    run_fleet(cb)
    xsd = os.path.join(_REPO, "tests", "unit", "fixtures", "junit", "jenkins-junit.xsd")
    schema = etree.XMLSchema(etree.parse(xsd))
    schema.assertValid(etree.parse(str(tmp_path / "reports" / "junit.xml")))


def test_formats_option(tmp_path):
    cb = make_callback(tmp_path, formats=["json", "junit"])
    run_fleet(cb)
    assert _report_names(tmp_path / "reports") == ["junit.xml", "report.json"]


def test_no_audit_no_report(tmp_path):
    cb = make_callback(tmp_path)
    cb.v2_playbook_on_play_start(FakePlay(["a"], [SETUP]))
    cb.v2_runner_on_failed(FakeResult("a", SETUP, {"failed": True, "msg": "x"}))
    cb.v2_playbook_on_stats(type("Stats", (), {"processed": {"a": 1}})())
    assert not (tmp_path / "reports").exists()


def test_all_unreachable_still_reported(tmp_path):
    """Every host unreachable at the first task: the audit never starts, the report says so."""
    cb = make_callback(tmp_path)
    cb.v2_playbook_on_play_start(FakePlay(["a", "b"], [FACTS, AUDIT]))
    for h in ("a", "b"):
        cb.v2_runner_on_unreachable(FakeResult(h, FACTS, {"unreachable": True, "msg": "no route"}))
    cb.v2_playbook_on_stats(type("Stats", (), {"processed": {}})())
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert [(h["host"], h["status"]) for h in report["hosts"]] == [("a", "unreachable"), ("b", "unreachable")]


def test_ignored_failure_does_not_fail_host(tmp_path):
    cb = make_callback(tmp_path)
    cb.v2_playbook_on_play_start(FakePlay(["a"], [SETUP, AUDIT]))
    cb.v2_runner_on_failed(FakeResult("a", SETUP, {"failed": True, "msg": "x"}), ignore_errors=True)
    cb.v2_runner_on_ok(FakeResult("a", AUDIT, audit_result()))
    cb.v2_playbook_on_stats(type("Stats", (), {"processed": {"a": 1}})())
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["hosts"][0]["verdict"] == "compliant"


def test_audit_in_loop_merged(tmp_path):
    cb = make_callback(tmp_path)
    cb.v2_playbook_on_play_start(FakePlay(["a"], [AUDIT]))
    loop = {"results": [audit_result(), audit_result(False, [STRAY])], "changed": False}
    cb.v2_runner_on_ok(FakeResult("a", AUDIT, loop))
    cb.v2_playbook_on_stats(type("Stats", (), {"processed": {"a": 1}})())
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    host = report["hosts"][0]
    assert host["verdict"] == "drift" and host["counts"]["error"] == 1


def test_write_error_is_displayed(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    cb = make_callback(tmp_path, report_dir=str(blocker / "sub"))
    run_fleet(cb)
    assert cb._display.errors and "no report written" in cb._display.errors[0]


def test_options_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("NETAUDIT_REPORT_DIR", str(tmp_path / "env"))
    monkeypatch.setenv("NETAUDIT_REPORT_FORMATS", "json,markdown")
    cb = new_callback()
    cb.set_options()
    assert cb.get_option("report_dir") == str(tmp_path / "env")
    assert cb.get_option("formats") == ["json", "markdown"]
    assert cb.get_option("junit_fail_on") == "error"


# -- through ansible-playbook ----------------------------------------------------------------

_HAVE_AUDIT = os.path.exists(os.path.join(_REPO, "plugins", "action", "netstat_audit.py"))


@pytest.mark.skipif(not _HAVE_AUDIT, reason="netstat_audit action plugin not present")
def test_ansible_playbook_run(tmp_path):
    """Two local hosts audited for real plus one unreachable host, through ansible-playbook."""
    ansible_playbook = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    policy = tmp_path / "policy.yml"
    policy.write_text(
        textwrap.dedent(
            """\
            policy: unit-callback
            listeners:
              default: allow
            """
        )
    )
    inventory = tmp_path / "hosts.ini"
    inventory.write_text(
        textwrap.dedent(
            f"""\
            [fleet]
            local1 ansible_connection=local ansible_python_interpreter={sys.executable}
            local2 ansible_connection=local ansible_python_interpreter={sys.executable}
            gone ansible_host=127.0.0.1 ansible_port=1 ansible_connection=ssh ansible_ssh_common_args='-o ConnectTimeout=2'
            """
        )
    )
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        textwrap.dedent(
            f"""\
            - hosts: fleet
              gather_facts: false
              tasks:
                - netaudit.netstat.netstat_facts:
                - netaudit.netstat.netstat_audit:
                    policy: ["{policy}"]
            """
        )
    )
    env = dict(
        os.environ,
        ANSIBLE_COLLECTIONS_PATH=_COLLECTIONS,
        ANSIBLE_CALLBACKS_ENABLED="netaudit.netstat.netstat_report",
        NETAUDIT_REPORT_DIR=str(tmp_path / "out"),
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_LOCAL_TEMP=str(tmp_path / "tmp"),
    )
    proc = subprocess.run(
        [ansible_playbook, "-i", str(inventory), str(playbook)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode != 0, proc.stdout  # the unreachable host fails the run
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    hosts = {h["host"]: h for h in report["hosts"]}
    assert set(hosts) == {"local1", "local2", "gone"}, proc.stdout + proc.stderr
    assert hosts["gone"]["status"] == "unreachable"
    assert hosts["local1"]["status"] == "ok", proc.stdout + proc.stderr
    assert hosts["local1"]["facts"]["listeners"] is not None
    assert "netstat_report: fleet NOT compliant" in proc.stdout


def _report_names(directory):
    """The report files of a report directory (its `latest` link and `.sets` store aside)."""
    return sorted(n for n in os.listdir(directory) if not n.startswith(".") and n != "latest")
