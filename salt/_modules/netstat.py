# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

"""Salt execution module ``netstat`` of netaudit.netstat: socket facts, policy audits and learn
mode on a minion, with the collection's own gatherer and policy engine.

The engine is not copied here: ``salt/_utils/netaudit_netstat/`` holds links to the collection's
``plugins/module_utils`` and ``plugins/plugin_utils`` files, Salt's ``saltutil.sync_utils`` (or
``sync_all``) copies them to the minion's extension modules, and this module imports them from
there under their collection names. The policies shipped with the collection and the policy
schema come from the file server (``salt://netaudit_netstat/policies/``).

Needs on the minion: Linux, the standard library for facts; PyYAML (Salt has it) and jsonschema
for audits (``salt-pip install jsonschema`` on a onedir minion).

CLI examples::

    salt-call --local --file-root=salt saltutil.sync_all
    salt-call --local --file-root=salt netstat.facts
    salt-call --local --file-root=salt netstat.facts connections=full protocols=[tcp]
    salt-call --local --file-root=salt --retcode-passthrough netstat.audit policy=netaudit.netstat/default.yml
    salt '*' netstat.audit policy=salt://policies/web.yml fail_on=warning --out json --static
    salt-call netstat.baseline dest=/tmp/learned.yml
"""

from __future__ import absolute_import, division, print_function

# Salt's loader gives this module __salt__, __opts__, __context__ and __utils__ (ruff knows them
# as builtins, see ruff.toml; pylint does not).
# pylint: disable=undefined-variable

import copy
import logging
import os
import sys

try:
    from salt.exceptions import CommandExecutionError, SaltInvocationError
except ImportError:  # pragma: no cover - outside Salt (the collection's own import checks)
    CommandExecutionError = SaltInvocationError = RuntimeError

__virtualname__ = "netstat"

log = logging.getLogger(__name__)

POLICY_URL = "salt://netaudit_netstat/policies"
DEFAULT_POLICY = "netaudit.netstat/default.yml"
PILLAR_KEY = "netaudit_netstat:policies"
AUDIT_OPTIONS = ("policy", "fail_on", "allow_incomplete", "today", "max_facts_age", "facts", "return_facts",
                 "gather", "saltenv")


def _opts():
    return globals().get("__opts__") or {}


def _util(name):
    """The collection's gatherer and engine, from salt/_utils/netaudit_netstat_engine.py."""
    util = (globals().get("__utils__") or {}).get("netaudit_netstat_engine." + name)
    if util is None:
        raise ImportError("the netaudit_netstat_engine util is not on this minion: run saltutil.sync_all (or "
                          "sync_utils) with salt/ of the collection in file_roots")
    here = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "_utils")
    return util(_opts(), extra_dirs=[here])


def _engine():
    return _util("engine")


def _controller():
    """With the policy loader, the audit and learn mode (PyYAML; validation needs jsonschema)."""
    return _util("controller")


def __virtual__():
    if not sys.platform.startswith("linux"):
        return False, "netstat: socket facts need Linux (/proc or netlink)"
    try:
        _engine()
    except ImportError as exc:
        return False, "netstat: %s" % exc
    return __virtualname__


# ------------------------------------------------------------------------------------------------
# arguments: the netstat_facts argument_spec, checked the way AnsibleModule checks it


def _truth(name, value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("yes", "on", "1", "true", "y", "t"):
        return True
    if text in ("no", "off", "0", "false", "n", "f"):
        return False
    raise SaltInvocationError("%s: %r is not a boolean (true or false)" % (name, value))


def _coerce(name, value, spec):
    kind = spec.get("type", "str")
    try:
        if kind == "bool":
            return _truth(name, value)
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if kind == "float":
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if kind in ("str", "path"):
            if isinstance(value, (dict, list)):
                raise ValueError
            value = str(value)
            if kind == "path":
                value = os.path.expanduser(os.path.expandvars(value))
        if kind == "list":
            if isinstance(value, str):
                value = [p.strip() for p in value.split(",") if p.strip()]
            elif not isinstance(value, (list, tuple)):
                value = [value]
            elements = dict(spec, type=spec.get("elements", "str"))
            return [_coerce(name, v, elements) for v in value]
        if kind == "dict":
            if not isinstance(value, dict):
                raise ValueError
            return value
    except (TypeError, ValueError, OverflowError):
        raise SaltInvocationError("%s: %r is not a%s %s" % (name, value, "n" if kind[0] in "aeiou" else "", kind))
    if kind in ("str", "path") and spec.get("choices") and value not in spec["choices"]:
        raise SaltInvocationError("%s: %r is not one of %s" % (name, value, ", ".join(spec["choices"])))
    return value  # raw, or a str that passed


def _params(spec, given, what):
    given = dict((k, v) for k, v in (given or {}).items() if not str(k).startswith("__"))
    unknown = sorted(set(given) - set(spec))
    if unknown:
        raise SaltInvocationError("%s: unknown option%s %s (valid: %s)" % (
            what, "" if len(unknown) == 1 else "s", ", ".join(unknown), ", ".join(sorted(spec))))
    out = {}
    for name, spec_one in spec.items():
        value = given.get(name, copy.deepcopy(spec_one.get("default")))
        out[name] = None if value is None else _coerce(name, value, spec_one)
    return out


def _gather(ns, options):
    params = _params(ns.gather.ARGUMENT_SPEC, options, "netstat.facts")
    try:
        return ns.gather.gather(ns.gather.options_from(params))
    except ns.common.NetstatError as exc:
        raise CommandExecutionError("netstat.facts: %s" % exc)


def facts(**kwargs):
    """The minion's sockets: the same options and the same result as the Ansible module
    netaudit.netstat.netstat_facts (its ansible_facts.netstat), see docs/facts.md.

    Options: protocols, families, connections (none|counts|summary|full|compact), unix
    (none|listening|bound|all), owners, owner_scan, services, samples, interval, backend
    (auto|netlink|procfs|psutil), proc_root, namespaces (current|all|selectors), container_runtime,
    container_sockets. Lists may be given as YAML lists or comma-separated text.

    CLI Example::

        salt '*' netstat.facts
        salt '*' netstat.facts connections=full protocols=tcp,udp
    """
    try:
        ns = _engine()
    except ImportError as exc:
        raise CommandExecutionError(str(exc))
    return _gather(ns, kwargs)


# ------------------------------------------------------------------------------------------------
# policies from the file server


def _cached_dir(url, saltenv):
    files = __salt__["cp.cache_dir"](url, saltenv, include_pat=r"E@\.(ya?ml|json)$")
    marker = "/" + url[len("salt://"):].strip("/") + "/"
    for path in files or []:
        i = path.find(marker)
        if i >= 0:
            return path[: i + len(marker) - 1]
    return None


def _cache_policy(loader, url, saltenv, seen, depth=0):
    """The local copy of a policy on the file server, and of the policies it extends by relative
    path (fetched before the loader reads them; the loader reports every problem with them). The
    extends are read with the loader's own parser, under its size, node and nesting limits."""
    local = __salt__["cp.cache_file"](url, saltenv)
    if not local:
        raise CommandExecutionError("policy %s not found on the file server (saltenv %s)" % (url, saltenv))
    if url in seen or depth > loader.MAX_DEPTH:
        return local
    seen.add(url)
    try:
        with open(local, "rb") as f:
            raw = f.read(loader.MAX_BYTES + 1)
        data = None if len(raw) > loader.MAX_BYTES else loader.parse_yaml(raw.decode("utf-8"), url)[0]
    except (OSError, ValueError, loader.PolicyError):
        return local  # the loader reads it again and says what is wrong, where
    extends = data.get("extends") if isinstance(data, dict) else None
    if isinstance(extends, str):
        extends = [extends]
    base = url.rsplit("/", 1)[0]
    for item in extends if isinstance(extends, list) else []:
        if isinstance(item, str) and item and not item.startswith(("/", "~", "netaudit.netstat/")):
            try:
                _cache_policy(loader, base + "/" + item, saltenv, seen, depth + 1)
            except CommandExecutionError:
                pass  # not on the file server: the loader names the missing file and where it looked
    return local


def _use_bundled(ns, saltenv):
    """Point the loader at the file server's copy of the collection's policies and schema."""
    bundled = _cached_dir(POLICY_URL, saltenv)
    schema = os.path.join(bundled or "", "schema", "netstat-policy.schema.json")
    if bundled is None or not os.path.isfile(schema):
        raise CommandExecutionError(
            "the policy schema is not on the file server (%s/schema/netstat-policy.schema.json, saltenv %s): "
            "serve the collection's salt/ directory in file_roots" % (POLICY_URL, saltenv))
    loader = ns.policy_loader
    loader.BUNDLED_DIR = bundled
    if loader.SCHEMA_PATH != schema:
        loader.SCHEMA_PATH = schema
        loader._SCHEMA = None
    return loader


def _load(ns, policy, saltenv):
    """LoadedPolicies for `policy` (salt:// URLs, netaudit.netstat/NAME, local paths, inline
    mappings), or raise the loader's PolicyError."""
    loader = _use_bundled(ns, saltenv)
    if policy is None:
        policy = __salt__["pillar.get"](PILLAR_KEY, None) or DEFAULT_POLICY
    sources = policy if isinstance(policy, (list, tuple)) else [policy]
    local = []
    seen = set()
    for src in sources:
        if isinstance(src, str) and src.strip().startswith("salt://"):
            local.append(_cache_policy(loader, src.strip(), saltenv, seen))
        else:
            local.append(src)
    return loader.load_policies(
        local,
        display_base=os.path.join(_opts().get("cachedir", ""), "files", saltenv),
        dirs=loader.search_dirs(),
    )


def _saltenv(saltenv):
    return saltenv or _opts().get("saltenv") or "base"


def _set_retcode(code):
    ctx = globals().get("__context__")
    if ctx is not None:
        ctx["retcode"] = code


def _failed(message, code=4, **extra):
    """A netstat.audit result that is no audit: verdict failed, the reason, the gate's exit code
    (4 could not audit, 2 usage error)."""
    out = {"verdict": "failed", "compliant": False, "fails": True, "error": message}
    out.update(extra)
    _set_retcode(code)
    return out


def audit(policy=None, fail_on="error", allow_incomplete=False, today=None, max_facts_age=None, facts=None,
          return_facts=False, gather=None, saltenv=None, **kwargs):
    """Audit the minion's sockets against policies: the same findings and verdict as the Ansible
    action netaudit.netstat.netstat_audit.

    policy
        A policy or a list: salt://path (from the file server, with the policies it extends),
        netaudit.netstat/NAME (shipped with the collection: default.yml, examples/webserver.yml,
        ...), a path on the minion, or a mapping. Default: the pillar value
        ``netaudit_netstat:policies``, else netaudit.netstat/default.yml.
    fail_on
        error (default), warning, info or never: findings at or above it make the verdict drift.
    allow_incomplete
        Partial facts (owners not readable, a vanished pid) are info, not a failing verdict.
    max_facts_age
        With ``facts``: facts older than this (seconds, or 90m, 24h, 2d) make the host incomplete.
    facts
        Audit these facts (a netstat.facts result) instead of gathering now.
    gather
        netstat.facts options for the gather (also accepted as keyword arguments of their own).

    Returns the host result: verdict (compliant, drift, incomplete, failed), compliant, counts,
    findings, waived, summary, policies, policy_files, facts_summary and console lines. The
    return code (``salt-call --retcode-passthrough``) is the audit gate's: 0 compliant, 1 drift,
    3 incomplete, 4 could not audit (policy error, gather failed).

    CLI Example::

        salt '*' netstat.audit
        salt '*' netstat.audit policy=salt://policies/web.yml fail_on=warning
        salt-call --retcode-passthrough netstat.audit policy='[netaudit.netstat/default.yml, /etc/netaudit/local.yml]'
    """
    try:
        ns = _controller()
    except ImportError as exc:
        return _failed("netstat.audit cannot run on this minion: %s" % exc)
    saltenv = _saltenv(saltenv)
    gather_options = dict(gather or {})
    gather_options.update((k, v) for k, v in kwargs.items() if not str(k).startswith("__"))
    try:
        fail_spec = {"fail_on": {"type": "str", "choices": list(ns.audit.FAIL_ON)}}
        fail_on = _params(fail_spec, {"fail_on": fail_on}, "netstat.audit")["fail_on"]
        allow_incomplete = _truth("allow_incomplete", allow_incomplete)
        return_facts = _truth("return_facts", return_facts)
        max_age = ns.audit.parse_duration(max_facts_age)
    except (SaltInvocationError, ValueError) as exc:
        return _failed("netstat.audit: %s" % exc, code=ns.audit.EXIT_CODES["usage"])
    try:
        loaded = _load(ns, policy, saltenv)
    except ns.policy_loader.PolicyError as exc:
        return _failed("invalid policy (%d problem%s):\n%s" % (len(exc.issues), "" if len(exc.issues) == 1 else "s", exc),
                       policy_errors=[i.as_dict() for i in exc.issues])
    except CommandExecutionError as exc:
        return _failed(str(exc))
    given = facts is not None
    try:
        if not given:
            needed = ns.policy.connections_mode_needed(loaded.layers)
            if needed and gather_options.get("connections") not in ("full", "compact"):
                gather_options["connections"] = needed
            facts = _gather(ns, gather_options)
        host = ns.audit.audit(facts, loaded, fail_on=fail_on, allow_incomplete=allow_incomplete, today=today, max_age=max_age)
    except (CommandExecutionError, SaltInvocationError) as exc:
        return _failed("gathering socket facts failed: %s" % exc)
    except ns.policy.PolicyEvalError as exc:
        return _failed("cannot evaluate the policy: %s" % exc)
    if return_facts and not given:
        host["facts"] = facts
    _set_retcode(ns.audit.exit_code(host["verdict"]))
    return host


def baseline(dest=None, name="baseline", extends=None, require=True, headroom=2.0, state_floor=100, mode="0644",
             facts=None, **kwargs):
    """Learn mode: a policy that allows what the minion runs now (netaudit.netstat.netstat_baseline).

    Returns the policy as YAML text (``policy``), what was learned (``learned``), warnings, and
    whether ``dest`` (a path on the minion) was written. The learned policy is loaded and validated
    before it is written. Review it before use: it allows whatever was listening.

    CLI Example::

        salt-call netstat.baseline
        salt-call netstat.baseline dest=/etc/netaudit/learned.yml name=web-tier
    """
    try:
        ns = _controller()
    except ImportError as exc:
        raise CommandExecutionError("netstat.baseline cannot run on this minion: %s" % exc)
    spec = {
        "name": {"type": "str"}, "extends": {"type": "list", "elements": "str"}, "require": {"type": "bool"},
        "headroom": {"type": "float"}, "state_floor": {"type": "int"}, "mode": {"type": "str"}, "dest": {"type": "path"},
    }
    args = _params(spec, {"name": name, "extends": extends, "require": require, "headroom": headroom,
                          "state_floor": state_floor, "mode": mode, "dest": dest}, "netstat.baseline")
    try:
        file_mode = int(str(args["mode"]), 8)
    except ValueError:
        raise SaltInvocationError("mode must be an octal number such as 0644, got %r" % (args["mode"],))
    if facts is None:
        facts = _gather(ns, dict((k, v) for k, v in kwargs.items() if not str(k).startswith("__")))
    me = _opts().get("id") or "minion"
    try:
        learned = ns.baseline.learn({me: facts}, name=args["name"], extends=args["extends"], headroom=args["headroom"],
                                    state_floor=args["state_floor"], require=args["require"])
    except ns.baseline.BaselineError as exc:
        raise CommandExecutionError("netstat.baseline: %s" % exc)
    text = ns.baseline.render(learned)
    import yaml

    target = os.path.abspath(args["dest"]) if args["dest"] else None
    try:
        _load_learned(ns, yaml.safe_load(text), target)
    except CommandExecutionError:
        raise
    except ns.policy_loader.PolicyError as exc:
        raise CommandExecutionError("the learned policy does not load: %s" % exc)
    changed = False
    if target:
        before = None
        if os.path.exists(target):
            with open(target, encoding="utf-8", errors="replace") as f:
                before = f.read()
        changed = before != text
        if changed:
            try:
                ns.report.write_files_atomic(os.path.dirname(target), [(os.path.basename(target), text)], file_mode, "policy")
            except ns.report.ReportError as exc:
                raise CommandExecutionError(str(exc))
    return {
        "policy": text,
        "learned": learned["policy"],
        "listeners": len(learned["policy"]["listeners"]["allow"]),
        "warnings": learned["warnings"],
        "dest": target,
        "changed": changed,
    }


def _load_learned(ns, data, target):
    loader = _use_bundled(ns, _saltenv(None))
    return loader.load_policies([data], base_dir=os.path.dirname(target) if target else os.getcwd())
