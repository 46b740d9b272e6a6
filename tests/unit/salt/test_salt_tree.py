# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""salt/ is a Salt file_roots base whose engine is the collection's own files: links, never
copies, and none missing (scripts/salt-links.sh makes them)."""

import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TREES = [
    ("plugins/module_utils", "salt/_utils/netaudit_netstat/module_utils", (".py",)),
    ("plugins/plugin_utils", "salt/_utils/netaudit_netstat/plugin_utils", (".py",)),
    ("policies", "salt/netaudit_netstat/policies", (".yml", ".json")),
]


def _files(top, endings):
    out = set()
    for d, dirs, files in os.walk(os.path.join(REPO, top)):
        dirs[:] = [x for x in dirs if x != "__pycache__"]
        for f in files:
            if f.endswith(endings):
                out.add(os.path.relpath(os.path.join(d, f), os.path.join(REPO, top)))
    return out


@pytest.mark.parametrize("source,linked,endings", TREES)
def test_every_file_is_linked_and_nothing_is_copied(source, linked, endings):
    wanted = _files(source, endings)
    assert wanted
    have = _files(linked, endings)
    assert have == wanted, "run scripts/salt-links.sh: missing %s, extra %s" % (sorted(wanted - have), sorted(have - wanted))
    for rel in wanted:
        path = os.path.join(REPO, linked, rel)
        assert os.path.islink(path), "%s is a copy, not a link (run scripts/salt-links.sh)" % path
        target = os.readlink(path)
        assert not os.path.isabs(target), "%s: the link must be relative to work in any checkout" % path
        assert os.path.realpath(path) == os.path.realpath(os.path.join(REPO, source, rel))


def test_salt_modules_are_where_salt_syncs_them_from():
    for kind in ("_modules", "_states", "_beacons", "_runners"):
        path = os.path.join(REPO, "salt", kind, "netstat.py")
        assert os.path.isfile(path) and not os.path.islink(path)
    assert os.path.isfile(os.path.join(REPO, "salt", "_utils", "netaudit_netstat_engine.py"))
