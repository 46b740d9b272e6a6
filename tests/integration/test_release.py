# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Release hygiene and the ecosystem: the changelog generated from the fragments agrees with
galaxy.yml; `ansible-builder create` takes meta/execution-environment.yml and its introspection
reads the collection's requirements; the docs lint clean and build as a static site; and the
tarball of `ansible-galaxy collection build`, installed into an empty directory, runs the facts
module, the audit and the report with no checkout on the path."""

import glob
import json
import os
import shutil
import subprocess

import yaml

from netns_helpers import REPO, ansible_env

VENV_BIN = os.path.join(REPO, ".venv", "bin")


def run(argv, cwd=REPO, env=None, timeout=600):
    res = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env or ansible_env(), timeout=timeout,
                         check=False)
    why = "%s failed (%d):\n%s\n%s" % (" ".join(argv), res.returncode, res.stdout[-3000:], res.stderr[-3000:])
    assert res.returncode == 0, why
    return res


def galaxy_version():
    with open(os.path.join(REPO, "galaxy.yml")) as f:
        return yaml.safe_load(f)["version"]


def test_changelog_is_generated_from_the_fragments_and_agrees_with_galaxy(tmp_path):
    run([os.path.join(VENV_BIN, "antsibull-changelog"), "lint"])
    # generating again from changelogs/ gives the committed CHANGELOG.md
    copy = tmp_path / "coll"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".venv", ".git", "tests", "benchmarks"), symlinks=True)
    run([os.path.join(VENV_BIN, "antsibull-changelog"), "generate"], cwd=str(copy))
    assert (copy / "CHANGELOG.md").read_text() == open(os.path.join(REPO, "CHANGELOG.md")).read()
    with open(os.path.join(REPO, "changelogs", "changelog.yaml")) as f:
        releases = sorted(yaml.safe_load(f)["releases"], key=lambda v: [int(p) for p in v.split(".")])
    fragments = glob.glob(os.path.join(REPO, "changelogs", "fragments", "*.y*ml"))
    version = galaxy_version()
    if fragments:  # unreleased changes: galaxy.yml names the coming release, newer than the last
        assert not releases or [int(p) for p in version.split(".")] > [int(p) for p in releases[-1].split(".")]
    else:
        assert releases and releases[-1] == version, (releases, version)
    assert "## v%s" % version.replace(".", "\\.") in open(os.path.join(REPO, "CHANGELOG.md")).read()


def test_execution_environment_build_context(tmp_path):
    ctx = tmp_path / "context"
    run([os.path.join(VENV_BIN, "ansible-builder"), "create", "-f", "meta/execution-environment.yml", "--context", str(ctx)])
    containerfile = (ctx / "Dockerfile").read_text() if (ctx / "Dockerfile").exists() else (ctx / "Containerfile").read_text()
    assert "ubi9/python-311" in containerfile and "ansible-core>=2.16" in containerfile
    assert "jsonschema>=4.0" in (ctx / "_build" / "requirements.txt").read_text()
    assert "iproute2 [platform:dpkg]" in (ctx / "_build" / "bindep.txt").read_text()
    assert yaml.safe_load((ctx / "_build" / "requirements.yml").read_text()) == {"collections": [{"name": "netaudit.netstat"}]}
    # as a dependency of another EE: the introspection reads this collection's requirements
    res = run([os.path.join(VENV_BIN, "ansible-builder"), "introspect", os.path.join(REPO, ".venv", "collections")])
    assert "jsonschema>=4.0  # from collection netaudit.netstat" in res.stdout
    assert "iproute2 [platform:dpkg]  # from collection netaudit.netstat" in res.stdout


def test_docs_lint_and_static_site(tmp_path):
    """The collection's docs as docs.ansible.com renders collections: antsibull-docs lint clean,
    then scripts/docsite.sh builds the site with the plugin docs, docs/*.md and the schema page."""
    run([os.path.join(VENV_BIN, "antsibull-docs"), "lint-collection-docs", "--plugin-docs", "."])
    site = tmp_path / "site"
    run(["bash", os.path.join(REPO, "scripts", "docsite.sh"), str(site)])
    # offline, the only warnings are the links into docs.ansible.com (intersphinx cannot load it)
    warnings = [line for line in (site / "warnings.log").read_text().splitlines() if "WARNING" in line]
    offline = ("undefined label", "reference target not found", "failed to reach any of the inventories")
    bad = [w for w in warnings if not any(k in w for k in offline)]
    assert not bad, bad
    html = site / "html" / "collections" / "netaudit" / "netstat"
    pages = sorted(p.name for p in html.glob("*.html"))
    for page in ("netstat_facts_module.html", "netstat_audit_module.html", "netstat_settle_module.html",
                 "netstat_report_merge_module.html", "netstat_report_callback.html", "netstat_drift_filter.html",
                 "netstat_compliant_test.html", "index.html"):
        assert page in pages, pages
    assert "container_sockets" in (html / "netstat_facts_module.html").read_text()
    guides = {p.name for p in (html / "docsite").glob("*.html")}
    wanted = {os.path.basename(m)[:-3] + ".html" for m in glob.glob(os.path.join(REPO, "docs", "*.md"))}
    assert guides == wanted | {"policy_schema.html"}, guides
    assert "allow_unresolved" in (html / "docsite" / "policy_schema.html").read_text()
    assert "Namespaces and containers" in (html / "docsite" / "policy.html").read_text()


def test_installed_tarball_runs_the_audit(netns, tmp_path):
    build = tmp_path / "build"
    run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(build), REPO])
    (tarball,) = glob.glob(str(build / "netaudit-netstat-*.tar.gz"))
    assert os.path.basename(tarball) == "netaudit-netstat-%s.tar.gz" % galaxy_version()
    installed = tmp_path / "installed"
    env = ansible_env({"ANSIBLE_COLLECTIONS_PATH": str(installed), "ANSIBLE_HOME": str(tmp_path / "home")})
    run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "install", tarball, "-p", str(installed)], env=env)
    res = run([os.path.join(VENV_BIN, "ansible-galaxy"), "collection", "list", "netaudit.netstat", "--format", "json"],
              env=env)
    paths = list(json.loads(res.stdout))
    assert paths == [str(installed / "ansible_collections")], paths  # the installed copy, not the checkout
    # no test, no benchmark, no venv in the tarball
    root = installed / "ansible_collections" / "netaudit" / "netstat"
    assert not (root / ".venv").exists() and (root / "plugins" / "modules" / "netstat_facts.py").exists()
    netns.start_scenario()
    work = tmp_path / "work"
    work.mkdir()
    (work / "inventory.ini").write_text("%s ansible_connection=local ansible_python_interpreter=%s\n" % (
        netns.name, netns.interpreter()))
    env.update({"ANSIBLE_CALLBACKS_ENABLED": "netaudit.netstat.netstat_report", "NETAUDIT_REPORT_DIR": str(work / "reports")})
    proc = subprocess.run([os.path.join(VENV_BIN, "ansible-playbook"), "-i", str(work / "inventory.ini"),
                           "netaudit.netstat.audit", "-e", "netaudit_fail_on=never"],
                          capture_output=True, text=True, cwd=str(work), env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    report = json.loads((work / "reports" / "report.json").read_text())
    assert [h["host"] for h in report["hosts"]] == [netns.name] and report["hosts"][0]["status"] == "ok"
    names = [".sets", "junit.xml", "latest", "report.html", "report.json", "report.md", "report.sarif"]
    assert sorted(os.listdir(work / "reports")) == names
