# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The settle rule of the image gate on a scripted container (a fake clock, a fake runtime):
exposed ports, stable samples, exit and timeout. The real thing is in tests/containers."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.netaudit.netstat.plugins.module_utils import _containers as C
from ansible_collections.netaudit.netstat.plugins.module_utils import _settle as S


class Script(object):
    """A container whose listener sets and state follow a script, one step per sample."""

    def __init__(self, sets, exposed=(), exits_at=None, exit_code=3):
        self.sets = sets
        self.exposed = list(exposed)
        self.exits_at = exits_at
        self.exit_code = exit_code
        self.now = 0.0
        self.step = 0

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.step += 1

    def inspect(self, socket_path, name):
        running = self.exits_at is None or self.step < self.exits_at
        return {"id": "c" * 64, "name": name, "image": "img:1", "running": running,
                "status": "running" if running else "exited", "exit_code": 0 if running else self.exit_code,
                "pid": 4242 if running else 0, "exposed": self.exposed}

    def listeners(self, pid):
        ports = self.sets[min(self.step, len(self.sets) - 1)]
        return [{"proto": "tcp", "address": "0.0.0.0", "port": p} for p in ports]


@pytest.fixture
def script(monkeypatch):
    def make(*args, **kw):
        s = Script(*args, **kw)
        monkeypatch.setattr(S, "inspect", s.inspect)
        monkeypatch.setattr(S, "_logs_tail", lambda path, cid, lines: ["starting", "fatal: no configuration"])
        return s
    return make


def run(s, **kw):
    kw.setdefault("samples", 3)
    kw.setdefault("interval", 1.0)
    kw.setdefault("timeout", 20)
    return S.wait("web", s.listeners, clock=s.clock, sleep=s.sleep, **kw)


def test_settles_once_the_exposed_port_listens_and_holds(script):
    # nothing for 3 samples (a stable empty set is not settled: 80 is exposed), then 80
    s = script([[], [], [], [], [80], [80], [80], [80]], exposed=[("tcp", 80)])
    res = run(s)
    assert res["settled"] and res["listeners"] == ["tcp 0.0.0.0:80"]
    assert res["elapsed"] == 6.0 and res["samples"] == 7
    assert [c["listeners"] for c in res["changes"]] == [[], ["tcp 0.0.0.0:80"]]


def test_without_exposed_ports_waits_for_a_listener(script):
    s = script([[], [], [], [8080], [8080], [8080]])
    assert run(s)["elapsed"] == 5.0
    s = script([[], [], [], [8080]])
    assert run(s, min_listeners=0)["listeners"] == []  # an image that serves nothing


def test_a_changing_set_times_out(script):
    s = script([[9000 + i] for i in range(100)])
    with pytest.raises(S.SettleError, match=r"did not settle within 5 s \(the listener set changed \d+ time") as exc:
        run(s, timeout=5)
    assert exc.value.result["container"]["logs"] == ["starting", "fatal: no configuration"]


def test_an_exposed_port_that_never_listens_times_out(script):
    s = script([[8080]], exposed=[("tcp", 80)])
    with pytest.raises(S.SettleError, match=r"exposed port\(s\) not listening: 80/tcp"):
        run(s, timeout=4)


def test_a_container_that_exits_fails_with_its_code_and_logs(script):
    s = script([[], [80]], exposed=[("tcp", 80)], exits_at=1, exit_code=3)
    with pytest.raises(S.SettleError, match=r"exited \(status exited, exit code 3\).*fatal: no configuration") as exc:
        run(s)
    assert exc.value.result["container"]["exit_code"] == 3


def test_demux_logs():
    frames = b"\x01\x00\x00\x00\x00\x00\x00\x03hi\n" + b"\x02\x00\x00\x00\x00\x00\x00\x05oops\n"
    assert C.demux_logs(frames) == b"hi\noops\n"
    assert C.demux_logs(b"plain tty output\n") == b"plain tty output\n"
    assert C.demux_logs(b"\x01\x00\x00\x00\x00\x00\x00\xffshort") == b"short"  # a cut frame: what there is
