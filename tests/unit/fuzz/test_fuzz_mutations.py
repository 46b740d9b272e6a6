# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bounded mutation fuzz run over real inputs: the shipped policies, the facts of this machine,
its /proc/net tables and the captured netlink replies, mutated at random. Inputs and time are
capped (NETAUDIT_FUZZ_INPUTS, default 4000; NETAUDIT_FUZZ_SECONDS, default 60); the seed is
printed (NETAUDIT_FUZZ_SEED replays a run). Every input must end in a value or the reader's own
typed error."""

import json
import os
import random
import time
import traceback

from ansible_collections.netaudit.netstat.plugins.module_utils import _gather, _netlink, _policy, _procfs
from ansible_collections.netaudit.netstat.plugins.plugin_utils import _policy_loader, _report

import fuzz_stats

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
NETLINK = os.path.join(REPO, "tests", "unit", "fixtures", "netlink")
TOKENS = [b"{", b"}", b"[", b"]", b": ", b"- ", b"&a ", b"*a", b"<<: *a", b"!!int ", b"!!str ", b"'", b'"', b"\n  ",
          b"\t", b"\x0c", b"\x00", b"\xff", b"9" * 40, b".nan", b"-1", b"65536", b"~", b"@", b"\\x00", b"\n- ", b"#"]


def _mutate(rng, data):
    data = bytearray(data)
    for _round in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        pos = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[pos % len(data)] = rng.randrange(256)
        elif op == 1:
            data[pos:pos] = rng.choice(TOKENS)
        elif op == 2 and data:
            end = min(len(data), pos + rng.randint(1, 40))
            del data[pos:end]
        elif op == 3 and data:
            end = min(len(data), pos + rng.randint(1, 80))
            data[pos:pos] = data[pos:end]
        else:
            data = data[:pos]
    return bytes(data)


def _mutate_json(rng, value, depth=0):
    if isinstance(value, dict) and value:
        key = rng.choice(sorted(value))
        value = dict(value)
        value[key] = _mutate_json(rng, value[key], depth + 1) if rng.random() < 0.7 else rng.choice(
            [None, 7, "x", -1, 2 ** 70, float("inf"), [], {}, True, "\udcff"])
        return value
    if isinstance(value, list) and value:
        value = list(value)
        i = rng.randrange(len(value))
        value[i] = _mutate_json(rng, value[i], depth + 1) if rng.random() < 0.7 else rng.choice([None, 7, "x", [], {"port": -5}])
        return value
    return rng.choice([None, 7, "x", -1, 2 ** 70, float("nan"), [], {}, False, "a\x00b"])


def _decode_inet(buf):
    return _netlink.decode_inet_messages(buf, "tcp", lambda index: "if%d" % index)


def test_mutation_fuzz(tmp_path):
    seed = int(os.environ.get("NETAUDIT_FUZZ_SEED") or random.SystemRandom().randrange(2 ** 32))
    budget = int(os.environ.get("NETAUDIT_FUZZ_INPUTS") or 4000)
    seconds = float(os.environ.get("NETAUDIT_FUZZ_SECONDS") or 60)
    rng = random.Random(seed)
    fuzz_stats.NOTES.append("mutation fuzz seed: %d (NETAUDIT_FUZZ_SEED=%d replays it)" % (seed, seed))
    policies = []
    for d, _sub, files in os.walk(os.path.join(REPO, "policies")):
        policies += [os.path.join(d, f) for f in files if f.endswith(".yml")]
    policy_texts = [open(p, "rb").read() for p in sorted(policies)]
    facts = _gather.gather(_gather.Options(connections="compact"))
    loaded = [_policy_loader.load_policies([p]).layers for p in sorted(policies)]
    tables = []
    for name in ("tcp", "tcp6", "udp", "udp6", "unix"):
        try:
            with open("/proc/net/" + name, "rb") as f:
                tables.append((name, f.read()))
        except OSError:
            pass
    replies = [open(os.path.join(NETLINK, n), "rb").read() for n in sorted(os.listdir(NETLINK)) if n.endswith(".bin")]
    started = time.time()
    done = 0
    failures = []
    policy_file = tmp_path / "p.yml"
    while done < budget and time.time() - started < seconds:
        kind = done % 4
        done += 1
        try:
            if kind == 0:
                policy_file.write_bytes(_mutate(rng, rng.choice(policy_texts)))
                name = "mutated policy files"
                try:
                    layers = _policy_loader.load_policies([str(policy_file)]).layers
                    _policy.evaluate(facts, layers, today="2026-06-01")
                except _policy_loader.PolicyError as exc:
                    assert all(i.file for i in exc.issues)
            elif kind == 1:
                name = "mutated facts"
                bad = _mutate_json(rng, facts)
                try:
                    result = _policy.evaluate(bad, rng.choice(loaded), today="2026-06-01")
                    model = _report.build_report({"h": dict(result, status="ok", facts=bad)})
                    json.dumps(json.loads(_report.render_json(model)))
                except _policy.PolicyEvalError:
                    pass
            elif kind == 2:
                name = "mutated /proc/net tables"
                table, raw = rng.choice(tables)
                lines = _mutate(rng, raw).decode("utf-8", "backslashreplace").splitlines(True)
                errors = []
                if table == "unix":
                    list(_procfs.parse_unix_lines(lines, "/proc/net/unix", errors))
                else:
                    proto = "tcp" if table.startswith("tcp") else "udp"
                    fam = "ipv6" if table.endswith("6") else "ipv4"
                    for sock in _procfs.parse_inet_lines(lines, "/proc/net/" + table, proto, fam, None, errors):
                        assert 0 <= sock.local_port <= 65535 and 0 <= sock.uid < 2 ** 32
            else:
                name = "mutated netlink replies"
                buf = _mutate(rng, rng.choice(replies))
                for decode in (_decode_inet, _netlink.decode_unix_messages):
                    try:
                        decode(buf)
                    except (_netlink.NetlinkParseError, _netlink.NetlinkError):
                        pass
            fuzz_stats.count(name)
        except Exception as exc:  # noqa: BLE001 - the point: count what is not a typed error
            fuzz_stats.count(name)
            fuzz_stats.fail(name)
            where = traceback.extract_tb(exc.__traceback__)[-1]
            failures.append(
                "%s: %s: %s (at %s:%d)" % (name, type(exc).__name__, exc, os.path.basename(where.filename), where.lineno)
            )
    fuzz_stats.NOTES.append("mutation fuzz: %d inputs in %.1f s" % (done, time.time() - started))
    assert done >= min(budget, 500), "the fuzz run tried only %d inputs" % done
    assert not failures, "seed %d: %d failure(s), first: %s" % (seed, len(failures), failures[:3])
