# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/_import_once: from a zip laid out as AnsiballZ lays out a module, the
collection's module_utils are compiled once each (Python's zipimport compiles them twice), they
work as imported normally, tracebacks show their source lines, and nothing changes outside a zip.

Each case runs in a fresh interpreter: it counts the `compile` audit events (PEP 578) that the
imports raise, and an audit hook cannot be removed once added."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import subprocess
import sys
import zipfile

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils import _import_once

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
PKG = "ansible_collections/netaudit/netstat/plugins/module_utils"
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")

PROBE = r"""
import json, sys, traceback
compiled = []
sys.addaudithook(lambda event, args: compiled.append(str(args[1])) if event == "compile" else None)
sys.path.insert(0, sys.argv[1])
install = sys.argv[2] == "install"
from ansible_collections.netaudit.netstat.plugins.module_utils import _import_once
finder = _import_once.install() if install else None
from ansible_collections.netaudit.netstat.plugins.module_utils import _gather, _common
import ansible_collections.netaudit.netstat.plugins.module_utils.extra as extra
out = {
    "finder": finder is not None,
    "first": type(sys.meta_path[0]).__name__,
    "compiled": [c.replace("\\", "/").rsplit("/", 1)[-1] for c in compiled if "module_utils" in c],
    "gather_file": _gather.__file__,
    "options": sorted(_gather.Options().protocols),
    "exposure": _common.exposure("127.0.0.1"),
    "future_division": extra.half(3),
}
try:
    extra.boom()
except ValueError:
    out["traceback"] = traceback.format_exc()
print(json.dumps(out))
"""

EXTRA = b"""# a module_utils file with Windows line endings and no __future__ import
def half(n):\r\n    return n / 2\r\n\r\n\r\ndef boom():\r\n    raise ValueError("the line that raised")\r\n"""


@pytest.fixture(scope="module")
def payload(tmp_path_factory):
    """A zip with the collection's module_utils under their package path, as AnsiballZ ships them."""
    path = str(tmp_path_factory.mktemp("ansiballz") / "payload.zip")
    with zipfile.ZipFile(path, "w") as zf:
        for part in ("ansible_collections", "ansible_collections/netaudit", "ansible_collections/netaudit/netstat",
                     "ansible_collections/netaudit/netstat/plugins", PKG):
            zf.writestr(part + "/__init__.py", "")
        for name in sorted(os.listdir(MODULE_UTILS)):
            if name.endswith(".py") and name != "__init__.py":
                zf.write(os.path.join(MODULE_UTILS, name), "%s/%s" % (PKG, name))
        zf.writestr(PKG + "/extra.py", EXTRA)
    return path


def probe(payload, mode):
    res = subprocess.run([sys.executable, "-c", PROBE, payload, mode], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_from_a_zip_each_module_is_compiled_once(payload):
    plain = probe(payload, "plain")
    once = probe(payload, "install")
    assert once["finder"] and once["first"] == "ImportOnce" and not plain["finder"]
    loaded = {"_gather.py", "_common.py", "_owners.py", "_netlink.py", "extra.py"} & set(once["compiled"])
    assert {"_gather.py", "_common.py", "_owners.py", "extra.py"} <= loaded
    for name in set(once["compiled"]) - {"_import_once.py", "__init__.py"}:  # those two load before it
        assert once["compiled"].count(name) == 1, (name, once["compiled"])
    if sys.version_info >= (3, 10):  # zipimport's find_spec compiles once more to learn the file name
        assert plain["compiled"].count("_gather.py") == 2, plain["compiled"]
    # the same modules, the same behaviour
    for key in ("options", "exposure", "future_division"):
        assert once[key] == plain[key]
    assert once["future_division"] == 1.5  # true division in a file without the __future__ import (no flag leaks)
    assert once["gather_file"] == plain["gather_file"]
    assert once["gather_file"].endswith("payload.zip/%s/_gather.py" % PKG)


def test_tracebacks_show_the_source_line(payload):
    once = probe(payload, "install")
    assert 'raise ValueError("the line that raised")' in once["traceback"]
    assert "extra.py\", line 7, in boom" in once["traceback"]


def test_outside_a_zip_nothing_is_installed():
    before = list(sys.meta_path)
    assert _import_once.install() is None
    assert sys.meta_path == before


def test_a_name_the_finder_cannot_serve_goes_to_pythons_finders(payload):
    finder = _import_once.ImportOnce()
    where = [payload + "/" + PKG]
    assert finder.find_spec("ansible_collections.netaudit.netstat.plugins.module_utils._gather", where) is not None
    for name, path in [
        ("ansible_collections.netaudit.netstat.plugins.module_utils.missing", where),  # no such file
        ("ansible_collections.netaudit.netstat.plugins.module_utils._gather", [MODULE_UTILS]),  # a directory, not a zip
        ("ansible_collections.netaudit.netstat.plugins.module_utils._gather", None),
        ("ansible_collections.netaudit.netstat.plugins.module_utils.a.b", where),  # not a direct child
        ("json", where),
    ]:
        assert finder.find_spec(name, path) is None, name
