# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Salt util ``netaudit_netstat_engine``: imports the netaudit.netstat gatherer and engine that
``saltutil.sync_utils`` copied to ``<extension_modules>/utils/netaudit_netstat/`` (links in the
repository's salt/_utils/ to the collection's plugins/module_utils and plugins/plugin_utils) under
their collection names, so that their own imports work as they do in Ansible. Used by the
``netstat`` execution module, state, beacon and runner: ``__utils__["netaudit_netstat_engine.engine"](__opts__)``.

After a sync that changes the files, the next call imports them anew (a long-running minion or
master does not keep the old engine).
"""

from __future__ import absolute_import, division, print_function

import importlib
import os
import sys
import types

PKG = "ansible_collections.netaudit.netstat.plugins"
NAME = "netaudit_netstat"
MINION = ("module_utils._common", "module_utils._gather", "module_utils._policy")
CONTROLLER = ("plugin_utils._policy_loader", "plugin_utils._audit", "plugin_utils._baseline", "plugin_utils._report",
              "plugin_utils._fleet", "plugin_utils._salt_returns")


def roots(opts, extra_dirs=()):
    """Where the synced engine may be: the extension modules, utils_dirs, then `extra_dirs`
    (salt/_utils of a file_roots tree a module was loaded from directly)."""
    dirs = []
    ext = (opts or {}).get("extension_modules")
    if ext:
        dirs.append(os.path.join(ext, "utils", NAME))
    for d in list((opts or {}).get("utils_dirs") or []) + list(extra_dirs or []):
        dirs.append(os.path.join(d, NAME))
    return dirs


def _stamp(root):
    out = []
    for sub in ("module_utils", "plugin_utils"):
        d = os.path.join(root, sub)
        for name in sorted(os.listdir(d)):
            if name.endswith(".py"):
                st = os.stat(os.path.join(d, name))
                out.append((sub, name, st.st_mtime_ns, st.st_size))
    return (root, tuple(out))


def _stub(name, path):
    mod = types.ModuleType(name)
    mod.__path__ = list(path)
    mod.__package__ = name
    sys.modules[name] = mod
    return mod


def _load(opts, extra_dirs, names):
    dirs = roots(opts, extra_dirs)
    root = next((d for d in dirs if os.path.isfile(os.path.join(d, "module_utils", "_gather.py"))), None)
    if root is None:
        raise ImportError("the netaudit.netstat engine is not here (looked in %s); run saltutil.sync_all (or "
                          "sync_utils) with salt/ of the collection in file_roots" % ", ".join(dirs))
    stamp = _stamp(root)
    plugins = sys.modules.get(PKG)
    if getattr(plugins, "__netaudit_stamp__", None) != stamp:
        for name in [n for n in sys.modules if n == PKG or n.startswith(PKG + ".")]:
            del sys.modules[name]
        for name in ("ansible_collections", "ansible_collections.netaudit", "ansible_collections.netaudit.netstat"):
            if name not in sys.modules:
                _stub(name, [])
        plugins = _stub(PKG, [])
        plugins.__netaudit_stamp__ = stamp
        for sub in ("module_utils", "plugin_utils"):
            setattr(plugins, sub, _stub(PKG + "." + sub, [os.path.join(root, sub)]))
    ns = types.SimpleNamespace(root=root)
    for name in names:
        setattr(ns, name.split(".")[1].lstrip("_"), importlib.import_module(PKG + "." + name))
    return ns


def engine(opts, extra_dirs=()):
    """The gatherer and the policy engine (standard library only): ns.gather, ns.common, ns.policy.
    Raises ImportError naming where the files were looked for."""
    return _load(opts, extra_dirs, MINION)


def controller(opts, extra_dirs=()):
    """engine() plus the policy loader (PyYAML; jsonschema to validate), the audit step, learn
    mode, the report writer and the fleet views: ns.policy_loader, ns.audit, ns.baseline,
    ns.report, ns.fleet, ns.salt_returns."""
    return _load(opts, extra_dirs, MINION + CONTROLLER)
