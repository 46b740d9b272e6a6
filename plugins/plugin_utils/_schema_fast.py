# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""A fast yes / no / don't-know check of a document against the policy schema, so that a valid
policy is not walked by jsonschema at all (at the 1 MiB size limit jsonschema alone takes about
as long as parsing the YAML).

This is a private plugin_utils file of netaudit.netstat; its API may change at any time.

compile_schema(schema, format_checker) returns check(instance) -> True (valid), False (invalid)
or None (this checker cannot tell: a keyword it does not implement). Only True is acted on: the
loader then skips jsonschema; on False or None, jsonschema validates the document and its errors
are what the user reads. The keywords implemented follow jsonschema's own semantics (draft
2020-12 as jsonschema implements it: booleans are not integers, 1.0 is an integer, enum
compares strings only by type and value, format goes to jsonschema's own format checker);
tests/unit/plugins/plugin_utils/test_schema_fast.py holds the two to the same answer on generated
documents.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

_IGNORED = frozenset(("description", "title", "$schema", "$id", "$defs", "default", "examples", "$comment"))


def _is_type(value, name):
    if name == "string":
        return isinstance(value, str)
    if name == "integer":
        if isinstance(value, bool):
            return False
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "null":
        return value is None
    return None


def _unknown(_value):
    return None


def _every(results):
    """False when any result is False, None (unknown) when any is None, else True; lazy."""
    unknown = False
    for result in results:
        if result is False:
            return False
        if result is None:
            unknown = True
    return None if unknown else True


def _all(checks):
    if not checks:
        return lambda _value: True
    if len(checks) == 1:
        return checks[0]
    return lambda value: _every(one(value) for one in checks)


class _Compiler(object):
    def __init__(self, root, format_checker):
        self.defs = root.get("$defs") or {}
        self.format_checker = format_checker
        self.refs = {}

    def ref(self, target):
        if not target.startswith("#/$defs/") or target[len("#/$defs/"):] not in self.defs:
            return _unknown
        name = target[len("#/$defs/"):]
        if name not in self.refs:
            cell = []

            def deferred(value):  # a recursive definition: bound below
                return cell[0](value)

            self.refs[name] = deferred
            cell.append(self.compile(self.defs[name]))
        return self.refs[name]

    def compile(self, node):
        if node is True:
            return lambda _value: True
        if node is False:
            return lambda _value: False
        if not isinstance(node, dict):
            return _unknown
        checks = []
        props = node.get("properties")
        for key, arg in node.items():
            if key in _IGNORED:
                continue
            make = getattr(self, "k_" + key.replace("$", "dollar_"), None)
            if make is None:
                return _unknown  # a keyword not implemented here: jsonschema decides
            one = make(arg, node, props)
            if one is not None:
                checks.append(one)
        return _all(checks)

    # -- keywords --------------------------------------------------------------------------------

    def k_dollar_ref(self, arg, node, props):
        return self.ref(arg)

    def k_type(self, arg, node, props):
        names = arg if isinstance(arg, list) else [arg]
        if any(_is_type(0, n) is None for n in names):
            return _unknown
        return lambda value: any(_is_type(value, n) for n in names)

    def k_enum(self, arg, node, props):
        if not all(isinstance(e, str) for e in arg):
            return _unknown
        allowed = frozenset(arg)
        return lambda value: isinstance(value, str) and value in allowed

    def k_minLength(self, arg, node, props):
        return lambda value: not isinstance(value, str) or len(value) >= arg

    def k_minimum(self, arg, node, props):
        return lambda value: isinstance(value, bool) or not isinstance(value, (int, float)) or value >= arg

    def k_maximum(self, arg, node, props):
        return lambda value: isinstance(value, bool) or not isinstance(value, (int, float)) or value <= arg

    def k_pattern(self, arg, node, props):
        search = re.compile(arg).search
        return lambda value: not isinstance(value, str) or search(value) is not None

    def k_format(self, arg, node, props):
        checker = self.format_checker
        if checker is None:
            return _unknown
        return lambda value: checker.conforms(value, arg)

    def k_minItems(self, arg, node, props):
        return lambda value: not isinstance(value, list) or len(value) >= arg

    def k_items(self, arg, node, props):
        if not isinstance(arg, dict) and not isinstance(arg, bool):
            return _unknown
        item = self.compile(arg)
        return lambda value: not isinstance(value, list) or _every(item(one) for one in value)

    def k_anyOf(self, arg, node, props):
        options = [self.compile(sub) for sub in arg]

        def check(value):
            unknown = False
            for one in options:
                result = one(value)
                if result is True:
                    return True
                if result is None:
                    unknown = True
            return None if unknown else False

        return check

    def k_required(self, arg, node, props):
        return lambda value: not isinstance(value, dict) or all(k in value for k in arg)

    def k_properties(self, arg, node, props):
        compiled = dict((k, self.compile(v)) for k, v in arg.items())
        return lambda value: not isinstance(value, dict) or _every(
            one(value[key]) for key, one in compiled.items() if key in value)

    def k_additionalProperties(self, arg, node, props):
        if "patternProperties" in node:
            return _unknown
        known = frozenset(props or ())
        if arg is False:
            return lambda value: not isinstance(value, dict) or all(k in known for k in value)
        extra = self.compile(arg)
        return lambda value: not isinstance(value, dict) or _every(
            extra(item) for key, item in value.items() if key not in known)

    def k_propertyNames(self, arg, node, props):
        name = self.compile(arg)
        return lambda value: not isinstance(value, dict) or _every(name(key) for key in value)


def compile_schema(schema, format_checker=None):
    """check(instance) -> True / False / None (see the module docstring) for `schema`."""
    return _Compiler(schema, format_checker).compile(schema)
