# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Controller-side loading and validation of socket policies.

This is a private plugin_utils file of netaudit.netstat; its API may change at any time.

``load_policies(sources)`` reads one policy file or a list (paths or inline dicts), resolves
``extends`` relative to the including file, rejects include cycles, validates every file against
``policies/schema/netstat-policy.schema.json`` plus the checks a schema cannot express (port
ranges, service names, addresses and CIDRs, dates), and returns the layers in merge order. Every
mapping of a loaded policy carries ``__source__`` ("file:line") and ``__key_sources__`` so that
findings can cite the rule involved.

Every problem found is reported, not just the first: a ``PolicyError`` (or one of its typed
subclasses) carries ``issues``, each with file, line, column, key path and message; ``str()`` of the
exception is one line per issue.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import difflib
import json
import math
import os
import re

import yaml

try:
    import jsonschema
except ImportError:  # pragma: no cover - reported when validation is attempted
    jsonschema = None

from ansible_collections.netaudit.netstat.plugins.module_utils import _policy
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _report, _schema_fast

MAX_BYTES = 1024 * 1024  # a policy is a few KiB; anything this big is a mistake
MAX_NODES = 200000  # YAML nodes after alias expansion ("billion laughs" guard)
MAX_DEPTH = 50  # extends depth
MAX_NESTING = 64  # mappings / lists inside each other (a policy needs 5); recursive aliases stop here
MAX_INT_DIGITS = 30  # no policy number is longer (ports, counts, limits)

SCHEMA_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    "policies",
    "schema",
    "netstat-policy.schema.json",
)
# The policies shipped with the collection; `netaudit.netstat/default.yml` names one of them.
BUNDLED_DIR = os.path.dirname(os.path.dirname(SCHEMA_PATH))
BUNDLED_PREFIX = "netaudit.netstat/"


class PolicyIssue(object):
    """One problem: where (file, line, column; 1-based, None when unknown), key path, message."""

    __slots__ = ("column", "file", "kind", "line", "message", "path")

    def __init__(self, file, line, column, path, message, kind="validation"):
        self.file = file
        self.line = line
        self.column = column
        self.path = path
        self.message = message
        self.kind = kind

    def location(self):
        loc = str(self.file)
        if self.line is not None:
            loc += ":%d" % self.line
            if self.column is not None:
                loc += ":%d" % self.column
        return loc

    def __str__(self):
        path = "%s: " % self.path if self.path else ""
        return "%s: %s%s" % (self.location(), path, self.message)

    def as_dict(self):
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "kind": self.kind,
        }

    def sort_key(self):
        return (
            str(self.file),
            self.line or 0,
            self.column or 0,
            self.path or "",
            self.message,
        )


class PolicyError(Exception):
    """Policy problems; ``issues`` lists every one, ``str()`` is one line per issue."""

    def __init__(self, issues):
        if isinstance(issues, PolicyIssue):
            issues = [issues]
        self.issues = sorted(issues, key=PolicyIssue.sort_key)
        super().__init__("\n".join(str(i) for i in self.issues))

    @property
    def messages(self):
        return [str(i) for i in self.issues]


class PolicyFileError(PolicyError):
    """A policy file is missing, unreadable, too big, or not text."""


class PolicySyntaxError(PolicyError):
    """A policy file is not valid YAML."""


class PolicyValidationError(PolicyError):
    """A policy breaks the schema or a semantic check (ports, addresses, dates...)."""


class PolicyCycleError(PolicyError):
    """Policies extend each other in a cycle."""


_KIND_CLASS = {
    "file": PolicyFileError,
    "syntax": PolicySyntaxError,
    "validation": PolicyValidationError,
    "cycle": PolicyCycleError,
}


def _raise(issues):
    kinds = {i.kind for i in issues}
    cls = _KIND_CLASS.get(kinds.pop(), PolicyError) if len(kinds) == 1 else PolicyError
    raise cls(issues)


# ------------------------------------------------------------------------------------------------
# YAML with positions


class _Marks(object):
    """Positions of the nodes of one document: path tuple -> (line, column), 1-based."""

    def __init__(self):
        self.values = {}
        self.keys = {}

    def find(self, path, key=False):
        path = tuple(path)
        if key and path in self.keys:
            return self.keys[path]
        while True:
            if path in self.values:
                return self.values[path]
            if not path:
                return (None, None)
            path = path[:-1]


def _pos(node):
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _Mark(object):
    """A stand-in node for _pos(): only its start_mark is read."""

    __slots__ = ("start_mark",)

    def __init__(self, mark):
        self.start_mark = mark


_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_NO_KEY = object()


def _events(loader):
    while loader.check_event():
        yield loader.get_event()


class _EventBuilder(object):
    """Builds the data of one document straight from the parser's events (libyaml's when PyYAML
    has it): no node graph, no per-node resolver bookkeeping, no recursion. Merge keys (explicit
    keys override merged ones), anchors and aliases (counted against MAX_NODES), nesting capped
    at MAX_NESTING, tags checked; positions go to `marks`, problems to `issues`."""

    def __init__(self, loader, display):
        self.loader = loader
        self.display = display
        self.marks = _Marks()
        self.issues = []
        self.nodes = 0
        self.empty = True
        self._resolved = {}
        self._anchors = {}  # name -> (value, node count)

    def _issue(self, node, path, msg):
        line, col = _pos(node)
        self.issues.append(PolicyIssue(self.display, line, col, _path_text(path) if path else None, msg, "syntax"))

    def _text(self, value, node, path):
        """`value`, or None with an issue when it is text holding a lone surrogate."""
        if isinstance(value, str) and _SURROGATE.search(value):
            self._issue(node, path, "the text holds a lone surrogate (an escape such as \\ud800): not valid Unicode text")
            return None
        return value

    def _scalar(self, node, path):
        """A tagged scalar's value, or None with an issue when its tag cannot make one of it
        (NaN and infinities are refused with the policy's other values, in _semantic)."""
        tag = node.tag or ""
        if tag == "tag:yaml.org,2002:int":
            digits = node.value.lstrip("+-").replace("_", "")
            if len(digits) > MAX_INT_DIGITS:
                self._issue(node, path, "integer of %d digits: no policy value is that large" % len(digits))
                return None
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, IndexError, KeyError, OverflowError, AttributeError) as exc:
            self._issue(node, path, "%r cannot be read as %s (%s)" % (node.value, tag.rsplit(":", 1)[-1], exc))
            return None
        return self._text(value, node, path)

    def _resolve(self, event):
        tag = event.tag
        if tag is None or tag == "!":
            if tag == "!" or not event.implicit[0]:
                return _STR_TAG
            value = event.value
            cached = self._resolved.get(value)
            if cached is None:
                cached = self._resolved[value] = self.loader.resolve(yaml.ScalarNode, value, (True, False))
            return cached
        return tag

    def _scalar_event(self, event, path):
        tag = self._resolve(event)
        if tag == _STR_TAG:
            return self._text(event.value, _Mark(event.start_mark), path)
        if tag == "tag:yaml.org,2002:timestamp":
            return event.value  # keep dates as text: the schema and the engine parse them
        if tag == _MERGE_TAG:
            return "<<"  # a merge key: _deliver merges the value that follows
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
        return self._scalar(node, path)

    def run(self, events):
        """The document's data (None for an empty stream); raises yaml errors as the composer would."""
        stack = []  # frames: [kind, path, value, pending_key, key_mark, merges, anchor, nodes_at_start, index]
        root = _NO_KEY
        documents = 0
        first_doc = None
        for event in events:
            cls = event.__class__
            if cls is yaml.DocumentStartEvent:
                documents += 1
                if documents == 1:
                    first_doc = event.start_mark
                else:
                    raise yaml.composer.ComposerError(
                        "expected a single document in the stream", first_doc, "but found another document", event.start_mark
                    )
                continue
            if cls in (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent):
                continue
            # where the node that starts here goes
            if stack:
                top = stack[-1]
                if top[0] == "seq":
                    path = top[1] + (top[8],)
                elif top[3] is _NO_KEY:
                    path = None  # a key
                else:
                    path = top[1] + (top[3],)
            else:
                path = ()
            if cls is yaml.MappingEndEvent or cls is yaml.SequenceEndEvent:
                frame = stack.pop()
                value = frame[2]
                if frame[0] == "map" and frame[5]:
                    value = self._merged(frame)
                if frame[6] is not None:
                    self._anchors[frame[6]] = (value, self.nodes - frame[7])
                self._deliver(stack, value, None, event)
                if not stack:
                    root = value
                continue
            self.nodes += 1
            if self.nodes > MAX_NODES:
                raise _TooBig(_Mark(event.start_mark))
            node_path = path if path is not None else (stack[-1][1] + ("<key>",))
            if len(node_path) > MAX_NESTING:
                raise _TooDeep(_Mark(event.start_mark))
            anchor = getattr(event, "anchor", None)
            if anchor is not None and cls is not yaml.AliasEvent and anchor in self._anchors:
                raise yaml.composer.ComposerError(
                    "found duplicate anchor %r; first occurrence" % anchor, None, "second occurrence", event.start_mark
                )
            if path is not None:
                self.marks.values[path] = (event.start_mark.line + 1, event.start_mark.column + 1)
            if cls is yaml.ScalarEvent:
                value = self._scalar_event(event, node_path)
                if anchor is not None:
                    self._anchors[anchor] = (value, 1)
            elif cls is yaml.AliasEvent:
                if anchor not in self._anchors:
                    if any(f[6] == anchor for f in stack):
                        raise _TooDeep(_Mark(event.start_mark))  # an alias inside its own anchor
                    raise yaml.composer.ComposerError(None, None, "found undefined alias %r" % anchor, event.start_mark)
                value, count = self._anchors[anchor]
                self.nodes += count
                if self.nodes > MAX_NODES:
                    raise _TooBig(_Mark(event.start_mark))
                value = copy.deepcopy(value) if isinstance(value, (dict, list)) else value
            else:
                kind = "map" if cls is yaml.MappingStartEvent else "seq"
                plain = "tag:yaml.org,2002:" + kind
                if event.tag not in (None, "!", plain) and not event.implicit:
                    self._issue(_Mark(event.start_mark), node_path, "unsupported YAML tag %s" % event.tag)
                stack.append([kind, node_path, {} if kind == "map" else [], _NO_KEY, None, [], anchor, self.nodes, 0,
                              event.tag not in (None, "!", plain) and not event.implicit, event.start_mark])
                continue
            self._deliver(stack, value, event, event)
            if not stack:
                root = value
        self.empty = root is _NO_KEY
        return None if root is _NO_KEY else root

    def _deliver(self, stack, value, scalar_event, event):
        """Hand a finished node to its parent frame."""
        if not stack:
            return
        top = stack[-1]
        if top[0] == "seq":
            top[2].append(value)
            top[8] += 1
            return
        if top[3] is _NO_KEY:  # this node is a key
            mark = event.start_mark
            if scalar_event is None:
                self._issue(_Mark(mark), top[1], "mapping keys must be plain strings")
                top[3] = None  # take the value, then drop it
                top[4] = None
                return
            if self._resolve(scalar_event) == _MERGE_TAG:
                top[3] = "<<"
                top[4] = "merge"
                return
            key = value if isinstance(value, str) else str(scalar_event.value)
            top[4] = (mark.line + 1, mark.column + 1)
            if value is None and scalar_event.value not in ("", "~", "null", "Null", "NULL") and self.issues and \
                    self.issues[-1].line == mark.line + 1:
                top[3] = None  # the key itself could not be read: said already
                return
            top[3] = key
            return
        key, key_mark = top[3], top[4]
        top[3] = _NO_KEY
        if key is None:
            return
        if key_mark == "merge":
            items = value if isinstance(value, list) else [value]
            if not all(isinstance(i, dict) for i in items):
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", top[10], "expected a mapping or list of mappings for merging",
                    event.start_mark,
                )
            top[5].append(items)
            return
        mapping = top[2]
        if key in mapping:
            first = self.marks.keys.get(top[1] + (key,), (None, None))[0]
            self.issues.append(
                PolicyIssue(self.display, key_mark[0], key_mark[1], _path_text(top[1] + (key,)),
                            "duplicate key %r (first defined on line %s)" % (key, first), "syntax")
            )
            return
        self.marks.keys[top[1] + (key,)] = key_mark
        mapping[key] = value

    @staticmethod
    def _merged(frame):
        """`<<: *a` (or a list of them): the merged keys first, earlier merges winning over later
        ones, then the explicit keys, which override merged ones."""
        out = {}
        for items in frame[5]:
            for item in reversed(items):
                out.update(item)
        out.update(frame[2])
        return out


class _TooDeep(Exception):
    def __init__(self, node):
        Exception.__init__(self)
        self.node = node


class _TooBig(Exception):
    def __init__(self, node):
        self.node = node


def _path_text(path):
    out = ""
    for p in path:
        if isinstance(p, int):
            out += "[%d]" % p
        else:
            out += ("." if out else "") + str(p)
    return out


def _display(path, base=None):
    """How a policy file is named in messages: netaudit.netstat/... for the collection's own
    policies, else relative to `base` (default: the current directory) when below it."""
    real = os.path.realpath(path)
    bundled = os.path.realpath(BUNDLED_DIR)
    if real.startswith(bundled + os.sep):
        return BUNDLED_PREFIX + os.path.relpath(real, bundled).replace(os.sep, "/")
    base = base or os.getcwd()
    try:
        rel = os.path.relpath(path, base)
    except ValueError:
        return path
    if rel.startswith(os.pardir + os.sep) or rel == os.pardir:
        return path
    return rel


def _read(path, display, max_bytes, where=None):
    """The text of a policy file, or raise PolicyFileError (one issue).

    A missing file is reported where it was named (`where`: the extends entry), or as the
    file itself; problems with the content are reported in the file itself.
    """

    def fail(msg, line=None, named_here=False):
        if named_here and where is not None:
            wfile, wline, wcol, wpath = where
            raise PolicyFileError(PolicyIssue(wfile, wline, wcol, wpath, msg, "file"))
        raise PolicyFileError(PolicyIssue(display, line, None, None, msg, "file"))

    if not os.path.exists(path):
        fail(
            "policy file %s not found%s"
            % (display if where is None else path, "" if where is None else " (extends is relative to the file that names it)"),
            named_here=True,
        )
    if os.path.isdir(path):
        fail("%s is a directory, not a policy file" % path, named_here=True)
    if not os.path.isfile(path):
        fail("%s is not a regular file (a device, pipe or socket?)" % path, named_here=True)
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        fail("cannot read the policy file: %s" % (exc.strerror or exc))
    if size > max_bytes:
        fail("the file is %d bytes, over the %d byte limit for a policy file (is this the right file?)" % (size, max_bytes))
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as exc:
        fail("cannot read the policy file: %s" % (exc.strerror or exc))
    if len(data) > max_bytes:
        fail("the file is over the %d byte limit for a policy file" % max_bytes)
    if b"\x00" in data:
        offset = data.index(b"\x00")
        fail(
            "binary content (NUL byte at offset %d): not a YAML policy" % offset,
            line=data[:offset].count(b"\n") + 1,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(
            "not UTF-8 text (invalid byte 0x%02x at offset %d)" % (data[exc.start], exc.start),
            line=data[: exc.start].count(b"\n") + 1,
        )


# What YAML refuses (C0 controls but TAB, LF, CR; DEL; C1 controls; surrogates; U+FFFE/FFFF).
_CONTROL_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufffe\uffff]")


# libyaml's parser when PyYAML has it (about twice as fast on large policies), else the pure one;
# both give the same nodes, marks and errors.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_SURROGATE = re.compile("[\ud800-\udfff]")


def parse_yaml(text, display, loader_cls=None):
    """(data, marks, issues) of one YAML document; syntax errors become issues. libyaml parses
    when PyYAML has it; a document it refuses is parsed again by the pure-Python parser, whose
    messages say more (which character, which indentation)."""
    bad = _CONTROL_CHAR.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        return (
            None,
            _Marks(),
            [
                PolicyIssue(
                    display,
                    line,
                    col,
                    None,
                    "control character U+%04X: a policy is printable text (remove it; in a double-quoted string write "
                    "it as \\x%02X if it is meant)" % (ord(bad.group()), ord(bad.group()) & 0xFF),
                    "syntax",
                )
            ],
        )
    loader = (loader_cls or _LOADER)(text)
    builder = _EventBuilder(loader, display)
    try:
        data = builder.run(_events(loader))
        if builder.empty:
            return (
                None,
                builder.marks,
                [PolicyIssue(display, 1, 1, None, "the policy file is empty", "syntax")],
            )
    except (_TooBig, _TooDeep, RecursionError) as exc:
        node = getattr(exc, "node", None)
        line, col = _pos(node) if node is not None else (None, None)
        if isinstance(exc, _TooBig):
            msg = "the document expands to more than %d nodes (anchors/aliases?); refusing to load it" % MAX_NODES
        else:
            msg = ("the document nests deeper than %d levels (a recursive alias, or brackets that never close?); "
                   "refusing to load it" % MAX_NESTING)
        return None, builder.marks, [PolicyIssue(display, line, col, None, msg, "syntax")]
    except yaml.YAMLError as exc:
        if (loader_cls or _LOADER) is not yaml.SafeLoader:
            loader.dispose()
            return parse_yaml(text, display, yaml.SafeLoader)
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context = getattr(exc, "context", None)
        msg = "invalid YAML: %s" % problem
        if context:
            msg += " (%s)" % context
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        return (
            None,
            builder.marks,
            [PolicyIssue(display, line, col, None, msg, "syntax")],
        )
    finally:
        loader.dispose()
    return data, builder.marks, builder.issues


# ------------------------------------------------------------------------------------------------
# schema validation

_SCHEMA = None


def load_schema(path=None):
    global _SCHEMA
    if path is None and _SCHEMA is not None:
        return _SCHEMA
    with open(path or SCHEMA_PATH) as f:
        schema = json.load(f)
    if path is None:
        _SCHEMA = schema
    return schema


def warm():
    """Read and compile the schema now. The netstat_audit action calls this when Ansible imports it
    in the controller's main process, so that every worker forked for a host starts with the
    schema compiled instead of compiling it again (at 1,000 hosts, 1,000 times)."""
    try:
        schema = load_schema()
        if jsonschema is not None:
            _fast_check(schema, _validator(schema))
    except (OSError, ValueError):
        pass  # load_policies reports it, naming the schema file


def _strip_internal(data):
    if isinstance(data, dict):
        return {k: _strip_internal(v) for k, v in data.items() if not (isinstance(k, str) and k.startswith("__"))}
    if isinstance(data, list):
        return [_strip_internal(v) for v in data]
    if isinstance(data, (datetime.date, datetime.datetime)):
        return data.isoformat()  # a date from Ansible's YAML (inline policies): the schema wants text
    return data


def _did_you_mean(word, choices):
    match = difflib.get_close_matches(str(word), [str(c) for c in choices], n=1, cutoff=0.6)
    return " (did you mean %r?)" % match[0] if match else ""


def _short(value, limit=60):
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _type_name(value):
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


_SHALLOW = ("type", "enum", "const")


def _fitting_branches(error):
    """The anyOf/oneOf branches whose errors are about the value's content, not its shape."""
    branches = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    out = []
    for errs in branches.values():
        ok = True
        for e in errs:
            if e.relative_path:
                continue
            if e.validator in _SHALLOW or (e.validator in ("anyOf", "oneOf") and len(_fitting_branches(e)) != 1):
                ok = False
                break
        if ok:
            out.append(errs)
    return out


def _flatten(error):
    """Descend into anyOf/oneOf when exactly one branch fits the value's shape."""
    if error.validator in ("anyOf", "oneOf") and error.context:
        fitting = _fitting_branches(error)
        if len(fitting) == 1:
            out = []
            for sub in fitting[0]:
                out.extend(_flatten(sub))
            return out
        if isinstance(error.instance, str):
            for sub in error.context:
                if sub.validator == "enum" and not sub.relative_path:
                    return [sub]
    return [error]


def _schema_issue(error, display, marks):
    path = tuple(error.absolute_path)
    inst = error.instance
    v = error.validator
    key_pos = False
    if v == "additionalProperties" and isinstance(inst, dict):
        allowed = sorted((error.schema.get("properties") or {}).keys())
        issues = []
        extras = [k for k in inst if k not in allowed and not str(k).startswith("__")]
        for k in extras:
            line, col = marks.find(path + (k,), key=True)
            issues.append(
                PolicyIssue(
                    display,
                    line,
                    col,
                    _path_text(path + (k,)),
                    "unknown key %r%s; allowed here: %s" % (k, _did_you_mean(k, allowed), ", ".join(allowed)),
                )
            )
        if issues:
            return issues
        msg = "unexpected key"
    elif "propertyNames" in error.schema_path:
        key_pos = True
        allowed = error.validator_value if v == "enum" else []
        path = path + (inst,)
        if v == "enum":
            msg = "unknown key %r%s; allowed here: %s" % (
                inst,
                _did_you_mean(inst, allowed),
                ", ".join(str(a) for a in allowed),
            )
        else:
            msg = "key %r is not a valid name" % (inst,)
    elif v == "enum":
        msg = "%s is not one of %s%s" % (
            _short(inst),
            ", ".join(str(a) for a in error.validator_value),
            _did_you_mean(inst, error.validator_value) if isinstance(inst, str) else "",
        )
    elif v == "type":
        want = error.validator_value
        want = " or ".join(want) if isinstance(want, list) else want
        want = {"object": "mapping", "array": "list"}.get(want, want)
        msg = "expected %s, got %s %s" % (want, _type_name(inst), _short(inst))
    elif v == "required":
        missing = [r for r in error.validator_value if r not in (inst or {})]
        msg = "missing required key%s: %s" % (
            "s" if len(missing) > 1 else "",
            ", ".join(missing),
        )
    elif v in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        desc = error.schema.get("description")
        bound = {
            "minimum": ">=",
            "maximum": "<=",
            "exclusiveMinimum": ">",
            "exclusiveMaximum": "<",
        }[v]
        msg = "%s is out of range (must be %s %s)%s" % (
            _short(inst),
            bound,
            error.validator_value,
            "; expected %s" % desc if desc else "",
        )
    elif v in ("anyOf", "oneOf", "pattern"):
        desc = error.schema.get("description") or "a valid value"
        msg = "%s is not valid here: expected %s" % (
            _short(inst),
            desc[0].lower() + desc[1:],
        )
    elif v == "format" and error.validator_value == "date":
        msg = "%s is not a date: write it as YYYY-MM-DD" % _short(inst)
    elif v in ("minItems", "minLength"):
        msg = "must not be empty"
    else:
        msg = error.message
    line, col = marks.find(path, key=key_pos)
    return [PolicyIssue(display, line, col, _path_text(path), msg)]


_VALIDATORS = {}


def _inline_refs(node, defs, seen=()):
    """The schema with every local "$ref" replaced by what it names: jsonschema then validates
    without resolving a reference per value (three times faster on a large policy). A reference
    cycle is left as it is."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/") and len(node) == 1:
            name = ref[len("#/$defs/") :]
            if name in defs and name not in seen:
                return _inline_refs(defs[name], defs, seen + (name,))
        return {k: (v if k == "$defs" else _inline_refs(v, defs, seen)) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, defs, seen) for v in node]
    return node


_FAST = {}


def _fast_check(schema, validator):
    cached = _FAST.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = (schema, _schema_fast.compile_schema(schema, validator.format_checker))
        _FAST[id(schema)] = cached
    return cached[1]


def _validator(schema):
    key = id(schema)
    cached = _VALIDATORS.get(key)
    if cached is not None and cached[0] is schema:
        return cached[1]
    validator_cls = jsonschema.validators.validator_for(schema)
    flat = _inline_refs(schema, schema.get("$defs") or {})
    validator = validator_cls(flat, format_checker=validator_cls.FORMAT_CHECKER)
    _VALIDATORS[key] = (schema, validator)
    return validator


def _check_schema(data, display, marks, schema, stripped=False):
    if jsonschema is None:
        return [
            PolicyIssue(
                display,
                None,
                None,
                None,
                "the jsonschema Python library is required on the controller to validate policies",
                "validation",
            )
        ]
    validator = _validator(schema)
    if not stripped:
        data = _strip_internal(data)
    # A valid policy is not walked by jsonschema: the fast check says True only when the schema
    # surely holds; otherwise jsonschema validates and its errors are what the user reads.
    if _fast_check(schema, validator)(data) is True:
        return []
    issues = []
    for error in validator.iter_errors(data):
        for sub in _flatten(error):
            issues.extend(_schema_issue(sub, display, marks))
    return issues


# ------------------------------------------------------------------------------------------------
# semantic checks (what a schema cannot say)


def _semantic(data, display, marks, services, bad_paths):
    issues = []

    def add(path, msg, key=False):
        line, col = marks.find(path, key=key)
        issues.append(PolicyIssue(display, line, col, _path_text(path), msg))

    def skip(path):
        return any(path[: len(b)] == b or b[: len(path)] == path for b in bad_paths)

    def check(path, fn, value):
        if value is None or skip(path):
            return None
        try:
            return fn(value)
        except _policy.PolicyEvalError as exc:
            msg = str(exc)
            word = str(value) if not isinstance(value, list) else None
            if "service name" in msg and word:
                msg += _did_you_mean(word.lower(), list(_policy.SERVICES) + list(services))
            add(path, msg)
            return None

    def ports(v):
        return _policy.parse_ports(v, services)

    def entries(section, kinds=("allow", "deny")):
        sec = data.get(section)
        if not isinstance(sec, dict):
            return
        for kind in kinds:
            items = sec.get(kind)
            if not isinstance(items, list):
                continue
            for i, e in enumerate(items):
                if isinstance(e, dict):
                    yield (section, kind, i), kind, e

    for path, kind, e in entries("listeners"):
        check(path + ("port",), ports, e.get("port"))
        check(path + ("bind",), _policy.parse_bind, e.get("bind"))
        matchers = ("port", "program", "bind", "user")
        if kind == "deny" and not any(e.get(k) is not None for k in matchers):
            add(path, "a deny entry needs at least one of port, program, bind, user")
        if e.get("required") and e.get("port") is not None and not skip(path + ("port",)):
            pass
    for path, kind, e in entries("egress"):
        check(path + ("port",), ports, e.get("port"))
        check(path + ("cidr",), _policy.parse_cidrs, e.get("cidr"))
        if kind == "deny" and not any(e.get(k) is not None for k in ("cidr", "port", "program")):
            add(path, "a deny entry needs at least one of cidr, port, program")
    for path, kind, e in entries("unix"):
        if kind == "deny" and not any(e.get(k) is not None for k in ("path", "program", "type", "world_writable")):
            add(
                path,
                "a deny entry needs at least one of path, program, type, world_writable",
            )
    states = data.get("states")
    if isinstance(states, dict):
        for proto, table in states.items():
            if not isinstance(table, dict):
                continue
            for state, lim in table.items():
                items = lim if isinstance(lim, list) else [lim]
                for i, item in enumerate(items):
                    if not isinstance(item, dict):
                        continue
                    p = ("states", proto, state) + ((i,) if isinstance(lim, list) else ())
                    check(p + ("port",), ports, item.get("port"))
                    mx, mn = item.get("max"), item.get("min")
                    if isinstance(mx, int) and isinstance(mn, int) and mn > mx and not skip(p):
                        add(
                            p,
                            "min (%d) is greater than max (%d): no count can satisfy it" % (mn, mx),
                        )
                    if mx is None and mn is None and not skip(p):
                        add(p, "a state limit needs max, min or both")
    queues = data.get("queues")
    if isinstance(queues, dict):
        for key, q in queues.items():
            if isinstance(q, dict):
                check(("queues", key, "port"), ports, q.get("port"))
                if q.get("max") is None and not skip(("queues", key)):
                    add(("queues", key), "a queue limit needs max")

    def finite(value, path):
        # NaN passes every JSON Schema bound (each comparison is false) and then never fires
        if isinstance(value, float) and not math.isfinite(value):
            add(path, "%r is not a finite number; leave the key out for no limit" % value)
        elif isinstance(value, dict):
            for k, v in value.items():
                if not str(k).startswith("__"):
                    finite(v, path + (k,))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                finite(v, path + (i,))

    finite(data, ())
    waivers = data.get("waivers")
    if isinstance(waivers, list):
        for i, w in enumerate(waivers):
            if not isinstance(w, dict):
                continue
            check(("waivers", i, "expires"), _policy.parse_date, w.get("expires"))
            m = w.get("match")
            if isinstance(m, dict):
                check(("waivers", i, "match", "port"), ports, m.get("port"))
                check(("waivers", i, "match", "bind"), _policy.parse_bind, m.get("bind"))
                check(("waivers", i, "match", "peer"), _policy.parse_cidrs, m.get("peer"))
                check(
                    ("waivers", i, "match", "address"),
                    _policy.parse_cidrs,
                    m.get("address"),
                )
    return issues


# ------------------------------------------------------------------------------------------------
# annotation


def _annotate(data, display, marks, path=()):
    if isinstance(data, dict):
        out = {}
        for k, v in data.items():
            out[k] = _annotate(v, display, marks, path + (k,))
        line = marks.values.get(path, (None, None))[0]
        if path == ():
            line = None
        first_key = min(
            (marks.keys[path + (k,)][0] for k in data if path + (k,) in marks.keys),
            default=line,
        )
        if first_key:
            out[_policy.SOURCE_KEY] = "%s:%s" % (display, first_key)
            out[_policy.KEY_SOURCES] = {
                k: "%s:%d" % (display, marks.keys[path + (k,)][0]) for k in data if path + (k,) in marks.keys
            }
        else:  # inline policy: no lines, cite the key path
            out[_policy.SOURCE_KEY] = "%s %s" % (display, _path_text(path) or "(top)")
            out[_policy.KEY_SOURCES] = {k: "%s %s" % (display, _path_text(path + (k,))) for k in data}
        return out
    if isinstance(data, list):
        return [_annotate(v, display, marks, path + (i,)) for i, v in enumerate(data)]
    return data


# ------------------------------------------------------------------------------------------------
# loading


class LoadedPolicies(object):
    """The result of load_policies: layers in merge order, and the files read."""

    def __init__(self, layers, files):
        self.layers = layers
        self.files = files

    @property
    def merged(self):
        return _policy.merge_policies(self.layers)

    def needs_connections(self):
        return _policy.connections_mode_needed(self.layers)


class _Loader(object):
    def __init__(self, base_dir, max_bytes, schema, display_base):
        self.base_dir = base_dir or os.getcwd()
        self.max_bytes = max_bytes
        self.schema = schema
        self.display_base = display_base
        self.issues = []
        self.docs = []  # (display, data, marks, schema_bad_paths)
        self.layers_order = []
        self.seen = set()

    def load_file(self, path, stack, where=None):
        real = os.path.realpath(path)
        display = _display(path, self.display_base)
        if real in [s[0] for s in stack]:
            chain = " -> ".join([s[1] for s in stack] + [display])
            wfile, wline, wcol, wpath = where or (display, None, None, None)
            self.issues.append(PolicyIssue(wfile, wline, wcol, wpath, "include cycle: %s" % chain, "cycle"))
            return
        if real in self.seen:
            return  # already merged earlier (diamond); a file counts once
        if len(stack) >= MAX_DEPTH:
            wfile, wline, wcol, wpath = where or (display, None, None, None)
            self.issues.append(
                PolicyIssue(
                    wfile,
                    wline,
                    wcol,
                    wpath,
                    "extends nests deeper than %d files" % MAX_DEPTH,
                    "cycle",
                )
            )
            return
        try:
            text = _read(path, display, self.max_bytes, where)
        except PolicyFileError as exc:
            self.issues.extend(exc.issues)
            return
        data, marks, issues = parse_yaml(text, display)
        self.issues.extend(issues)
        if data is None:
            return
        syntax_paths = {i.path for i in issues}
        self._load_doc(data, marks, display, os.path.dirname(real), stack + [(real, display)], skip=syntax_paths)
        self.seen.add(real)

    def load_inline(self, data, label):
        marks = _Marks()
        self._load_doc(data, marks, label, self.base_dir, [], inline=True)

    def _load_doc(self, data, marks, display, directory, stack, inline=False, skip=()):
        if not isinstance(data, dict):
            self.issues.append(
                PolicyIssue(
                    display,
                    1 if not inline else None,
                    1 if not inline else None,
                    None,
                    "a policy must be a mapping (policy:, listeners:, ...), not %s" % _type_name(data),
                )
            )
            return
        annotated = inline and _policy.SOURCE_KEY in data
        data = data if annotated else _strip_internal(data)
        schema_issues = [i for i in _check_schema(data, display, marks, self.schema, stripped=not annotated)
                         if i.path not in skip]
        self.issues.extend(schema_issues)
        bad = set()
        for i in schema_issues:
            if i.path is not None:
                bad.add(tuple(_split_path(i.path)))
        ext = data.get("extends")
        if isinstance(ext, (str, list)):
            items = [ext] if isinstance(ext, str) else ext
            for i, item in enumerate(items):
                if not isinstance(item, str) or not item:
                    continue
                p = ("extends",) if isinstance(ext, str) else ("extends", i)
                line, col = marks.find(p)
                if "\0" in item:
                    self.issues.append(PolicyIssue(display, line, col, _path_text(p), "extends: a path with a NUL byte"))
                    continue
                if item.startswith(BUNDLED_PREFIX):
                    target = os.path.join(BUNDLED_DIR, item[len(BUNDLED_PREFIX) :])
                else:
                    target = os.path.expanduser(item)
                    target = target if os.path.isabs(target) else os.path.join(directory, target)
                self.load_file(
                    os.path.normpath(target),
                    stack,
                    where=(display, line, col, _path_text(p)),
                )
        self.docs.append((display, data, marks, bad, annotated))
        self.layers_order.append(len(self.docs) - 1)

    def finish(self):
        services = {}
        for _display, data, _marks, _bad, _annotated in self.docs:
            svc = data.get("services")
            if isinstance(svc, dict):
                services.update({k: v for k, v in svc.items() if isinstance(v, int)})
        for display, data, marks, bad, _annotated in self.docs:
            self.issues.extend(_semantic(data, display, marks, services, bad))
        if self.issues:
            _raise(self.issues)
        layers = []
        files = []
        for display, data, marks, _bad, annotated in self.docs:
            if annotated:
                layers.append(data)
                files.append(data.get("__file__") or display)
                continue
            layer = _annotate(data, display, marks)
            layer["__file__"] = display
            layers.append(layer)
            files.append(display)
        return LoadedPolicies(layers, files)


def _split_path(text):
    out = []
    for part in text.replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]"):
            out.append(int(part[1:-1]))
        else:
            out.append(part)
    return out


def search_dirs(playbook_dir=None, cwd=None):
    """Where a relative policy path is looked for, in order: the current directory of the
    controller process, then the playbook's directory and its files/ subdirectory. The action,
    the filter and the test all use this order."""
    dirs = [cwd or os.getcwd()]
    if playbook_dir:
        dirs += [playbook_dir, os.path.join(playbook_dir, "files")]
    out = []
    for d in dirs:
        d = os.path.abspath(d)
        if d not in out:
            out.append(d)
    return out


def resolve_path(src, dirs):
    """(absolute path, None) for a policy named `src`, or (None, message) when it is not found.

    `netaudit.netstat/NAME` is a policy shipped with the collection; absolute and ~ paths are
    taken as they are; a relative path is looked for in `dirs` (see search_dirs), first hit wins.
    """
    text = src.strip()
    if text.startswith(BUNDLED_PREFIX):
        path = os.path.join(BUNDLED_DIR, text[len(BUNDLED_PREFIX) :])
        if os.path.exists(path):
            return os.path.normpath(path), None
        shipped = sorted(
            BUNDLED_PREFIX + os.path.relpath(os.path.join(d, f), BUNDLED_DIR).replace(os.sep, "/")
            for d, _sub, files in os.walk(BUNDLED_DIR)
            for f in files
            if f.endswith((".yml", ".yaml"))
        )
        return None, "policy %s is not shipped with the collection (%s has: %s)" % (text, BUNDLED_DIR, ", ".join(shipped))
    path = os.path.expanduser(text)
    if os.path.isabs(path):
        return os.path.normpath(path), None
    for d in dirs:
        cand = os.path.normpath(os.path.join(d, path))
        if os.path.exists(cand):
            return cand, None
    return None, "policy file %s not found; looked in: %s" % (text, ", ".join(dirs))


def _flow_list(text):
    """The list a string holding a YAML flow sequence names ("[a.yml, b.yml]": what
    `-e netaudit_policies=[a.yml,b.yml]` hands over), parsed under the loader's limits."""
    if len(text) > MAX_BYTES:
        raise PolicyFileError(PolicyIssue("policy", None, None, None, "the policy list is larger than %d bytes" % MAX_BYTES,
                                          "file"))
    data, _marks, issues = parse_yaml(text, "the policy list")
    if issues:
        raise PolicySyntaxError(issues)
    if not isinstance(data, list):
        raise PolicyFileError(PolicyIssue("policy", None, None, None, "expected a list of policies in %r" % text[:80], "file"))
    return data


def load_policies(
    sources,
    base_dir=None,
    max_bytes=MAX_BYTES,
    schema_path=None,
    display_base=None,
    find=None,
    dirs=None,
):
    """Load policy file path(s) and/or inline dicts; return LoadedPolicies or raise PolicyError.

    `dirs`: where relative paths are looked for (see search_dirs; default: `base_dir`, else the
    current directory). `find`: optional callable(path) -> absolute path tried before `dirs`.
    A path found nowhere is an error that lists where it was looked for.
    """
    if sources is None:
        raise PolicyFileError(PolicyIssue("policy", None, None, None, "no policy given", "file"))
    if not isinstance(sources, bytes):
        # ansible-core hands tagged strings and lazy containers: plain ones from here on (numbers
        # and booleans stay what they are, to be refused by name below)
        sources = _report.plain(sources)
    if isinstance(sources, str) and sources.strip().startswith("[") and sources.strip().endswith("]"):
        sources = _flow_list(sources)
    if isinstance(sources, (str, dict)):
        sources = [sources]
    if not isinstance(sources, (list, tuple)):
        raise PolicyFileError(
            PolicyIssue(
                "policy",
                None,
                None,
                None,
                "expected a policy file path, a mapping or a list of those, got %s" % _type_name(sources),
                "file",
            )
        )
    try:
        schema = load_schema(schema_path)
    except (OSError, ValueError) as exc:
        raise PolicyFileError(
            PolicyIssue(
                schema_path or SCHEMA_PATH,
                None,
                None,
                None,
                "cannot read the schema: %s" % exc,
                "file",
            )
        )
    loader = _Loader(base_dir, max_bytes, schema, display_base)
    if dirs is None:
        dirs = [os.path.abspath(loader.base_dir)]
    for n, src in enumerate(sources):
        if isinstance(src, dict):
            loader.load_inline(copy.deepcopy(src), "inline policy #%d" % (n + 1))
        elif isinstance(src, str) and src.strip() and "\0" not in src:
            path = None
            if find is not None and not src.strip().startswith(BUNDLED_PREFIX):
                try:
                    path = find(src)
                except Exception:  # noqa: BLE001 - not found there: try the search directories
                    path = None
                if path and not os.path.exists(path):
                    path = None
            why = None
            if path is None:
                path, why = resolve_path(src, dirs)
            if path is None:
                loader.issues.append(PolicyIssue("policy #%d" % (n + 1), None, None, None, why, "file"))
                continue
            loader.load_file(os.path.normpath(path), [])
        else:
            loader.issues.append(
                PolicyIssue(
                    "policy #%d" % (n + 1),
                    None,
                    None,
                    None,
                    "expected a policy file path or a mapping, got %s"
                    % ("a path with a NUL byte" if isinstance(src, str) and "\0" in src else _type_name(src)),
                )
            )
    return loader.finish()


def load_policy(path, **kwargs):
    """One file (with its extends); same as load_policies([path])."""
    return load_policies([path], **kwargs)
