# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Compile each of this collection's module_utils once when a module runs from Ansible's zip.

This is a private module_utils file of netaudit.netstat; its API may change at any time.
Standard library only: it runs on the managed host (Python 3.8+).

An Ansible module arrives as a zip of source files (AnsiballZ carries no bytecode) and Python
imports its module_utils with ``zipimport``, compiling each from source on every run. Since Python
3.10, ``zipimporter.find_spec()`` asks the loader for the module's file name, and
``zipimporter.get_filename()`` compiles the whole source to find it out; ``exec_module()`` then
compiles it a second time (CPython 3.10 to 3.13 at least). For the facts module that is about
25 ms of a module run spent compiling its ~3,000 lines of module_utils twice: on a fleet audit it
is paid once per host.

``install()`` puts a finder first on ``sys.meta_path`` that serves this package's modules from the
same zip with one compile each (the same compile zipimport does: the source bytes, normalised line
endings, ``dont_inherit``). Anything else, and everything when the package is not loaded from a
zip (the controller, Salt, the tests), goes to Python's own finders; a module this finder cannot
read is left to them too.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys

try:
    import zipimport
    from importlib.machinery import ModuleSpec
except ImportError:  # pragma: no cover - every CPython 3.8+ has both
    zipimport = None

PACKAGE = __name__.rpartition(".")[0]


class _Loader:
    """Loads one module of the package from the zip, compiling its source once."""

    def __init__(self, importer, source, origin):
        self._importer = importer
        self._source = source
        self._origin = origin

    def create_module(self, spec):
        return None  # the default module object

    def exec_module(self, module):
        source = self._source.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        code = compile(source, self._origin, "exec", dont_inherit=True)
        exec(code, module.__dict__)  # pylint: disable=exec-used

    def get_source(self, fullname):
        """For tracebacks (linecache asks the module's loader)."""
        return self._importer.get_source(fullname)


class ImportOnce:
    """A meta path finder for the modules of PACKAGE found inside a zip."""

    def __init__(self, prefix=PACKAGE + "."):
        self.prefix = prefix
        self._importers = {}

    def _importer(self, entry):
        if entry not in self._importers:
            try:
                self._importers[entry] = zipimport.zipimporter(entry)
            except (zipimport.ZipImportError, OSError, TypeError, ValueError):
                self._importers[entry] = None
        return self._importers[entry]

    def find_spec(self, fullname, path=None, target=None):
        name = fullname[len(self.prefix):] if fullname.startswith(self.prefix) else ""
        if not name or "." in name:
            return None
        for entry in path or ():
            importer = self._importer(entry) if isinstance(entry, str) else None
            if importer is None:
                continue
            relative = "%s%s.py" % (importer.prefix.replace("\\", "/"), name)
            try:
                source = importer.get_data(relative)
            except (OSError, zipimport.ZipImportError):
                continue  # not here: a package, bytecode only or another entry; Python's finders decide
            origin = "%s/%s" % (importer.archive, relative)
            spec = ModuleSpec(fullname, _Loader(importer, source, origin), origin=origin)
            spec.has_location = True
            return spec
        return None

    def invalidate_caches(self):
        self._importers.clear()


def install(loader=None):
    """Put the finder first on sys.meta_path when this package was loaded from a zip (once);
    returns the finder, or None when there is nothing to do."""
    if zipimport is None:
        return None
    loader = globals().get("__loader__") if loader is None else loader
    if not isinstance(loader, zipimport.zipimporter):
        return None
    for finder in sys.meta_path:
        if isinstance(finder, ImportOnce):
            return finder
    finder = ImportOnce()
    sys.meta_path.insert(0, finder)
    return finder
