# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real Salt (PyPI, in .venv-salt) for the Salt front end's tests: minion configurations whose
root_dir, caches, keys and logs are under a temporary directory, salt-call --local inside test
network namespaces, and a master with minions on the loopback of a namespace."""

import json
import os
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SALT_VENV = os.environ.get("NETAUDIT_SALT_VENV") or os.path.join(REPO, ".venv-salt")
SALT_BIN = os.path.join(SALT_VENV, "bin")
SALT_FILE_ROOT = os.path.join(REPO, "salt")


def salt_usable():
    if not os.path.exists(os.path.join(SALT_BIN, "salt-call")):
        return False, "Salt is not installed in %s (scripts/setup.sh with NETAUDIT_WITH_TEST_TOOLS=1)" % SALT_VENV
    return True, ""


def require_salt():
    """Salt is there, or the test fails in CI (NETAUDIT_REQUIRE_SALT=1) and is skipped elsewhere."""
    import pytest

    ok, why = salt_usable()
    if not ok:
        if os.environ.get("CI") == "true" or os.environ.get("NETAUDIT_REQUIRE_SALT") == "1":
            pytest.fail("the Salt tests need this in CI: %s" % why)
        pytest.skip(why)


def write_config(directory, name, text):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "w") as f:
        f.write(text)


class LocalMinion:
    """A masterless minion (file_client: local) serving the repository's salt/ plus `srv`."""

    def __init__(self, base, minion_id="test-minion", extra=""):
        self.base = base
        self.conf = os.path.join(base, "etc")
        self.srv = os.path.join(base, "srv")
        os.makedirs(self.srv, exist_ok=True)
        write_config(self.conf, "minion", (
            "id: %s\nroot_dir: %s\nfile_client: local\nfile_roots:\n  base:\n    - %s\n    - %s\n"
            "log_level_logfile: warning\nfileserver_list_cache_time: 0\n%s"
        ) % (minion_id, os.path.join(base, "root"), SALT_FILE_ROOT, self.srv, extra))

    def argv(self, args, ns=None, prefix=()):
        argv = list(prefix) + [os.path.join(SALT_BIN, "salt-call"), "-c", self.conf, "--local", "--out", "json",
                               "--retcode-passthrough", "--no-color"] + list(args)
        return ns.cmd(argv) if ns is not None else argv

    def call(self, args, ns=None, prefix=(), timeout=120):
        """(returncode, the 'local' return, output): the return is None when salt-call printed no
        JSON (an invocation error prints the function's usage), the output is stdout + stderr."""
        res = subprocess.run(self.argv(args, ns, prefix), capture_output=True, text=True, timeout=timeout, check=False)
        try:
            out = json.loads(res.stdout)["local"]
        except (ValueError, KeyError, TypeError):
            out = None
        return res.returncode, out, res.stdout + res.stderr

    def sync(self):
        rc, out, err = self.call(["saltutil.sync_all"])
        assert rc == 0 and "modules.netstat" in out["modules"], (rc, out, err)
        return out


def wait_for(predicate, timeout=60, interval=0.5, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)" % (timeout, what, last))
