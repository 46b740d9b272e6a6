# -*- coding: utf-8 -*-
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A real Docker daemon for the tests: containers and networks named natest-*, removed after use.

The daemon is Debian's docker.io, started by scripts/docker.sh when none answers (and stopped
by it at the end of the session); images are built locally (no registry is reachable).
"""

import json
import os
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

from netns_helpers import REPO, ss_inet  # noqa: E402  pylint: disable=wrong-import-position

PREFIX = "natest-"
IMAGE = "netaudit-test/busybox:1"
DOCKER_SH = os.path.join(REPO, "scripts", "docker.sh")
# the host's Python, read-only, for containers that need a Python listener
PY_MOUNTS = ["-v", "/usr:/usr:ro", "-v", "/lib:/lib:ro", "-v", "/lib64:/lib64:ro", "-v", "%s:/t:ro" % HERE]


def docker(*args, check=True, timeout=120):
    res = subprocess.run(["docker"] + list(args), capture_output=True, text=True, timeout=timeout, check=False)
    if check and res.returncode != 0:
        raise AssertionError("docker %s failed (%d): %s" % (" ".join(args), res.returncode, res.stderr.strip()[-2000:]))
    return res


def docker_up():
    try:
        return docker("info", check=False, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def unique(name):
    return "%s%s-%s" % (PREFIX, name, uuid.uuid4().hex[:6])


def run(name, *args, image=IMAGE, cmd=(), wait_ready=None):
    """docker run -d --name NAME ARGS IMAGE CMD; wait until its logs show `wait_ready`; the id."""
    cid = docker("run", "-d", "--name", name, *args, image, *cmd).stdout.strip()
    if wait_ready:
        deadline = time.time() + 30
        while time.time() < deadline:
            logs = docker("logs", cid, check=False)
            if wait_ready in logs.stdout:
                break
            if inspect(cid)["State"]["Status"] != "running":
                raise AssertionError("container %s stopped: %s %s" % (name, logs.stdout, logs.stderr))
            time.sleep(0.1)
        else:
            raise AssertionError("container %s never printed %s" % (name, wait_ready))
    return cid


def wait_listening(cid, port, proto="tcp", timeout=20):
    """Wait until the container's namespace has a listener on `port` (ss through nsenter)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(s["local_port"] == port and s["proto"] == proto for s in ss_in(pid_of(cid))):
            return
        time.sleep(0.1)
    raise AssertionError("container %s: nothing listens on %s/%d" % (cid[:12], proto, port))


def inspect(cid):
    return json.loads(docker("inspect", cid).stdout)[0]


def pid_of(cid):
    return inspect(cid)["State"]["Pid"]


def netns_inode(pid):
    return int(os.readlink("/proc/%d/ns/net" % pid).split("[")[1].rstrip("]"))


class _Nsenter(object):
    """What ss_inet() needs of a namespace: run(argv) inside it (here: nsenter -t PID -n)."""

    def __init__(self, pid):
        self.pid = pid

    def run(self, argv, **kw):
        kw.setdefault("capture_output", True)
        kw.setdefault("text", True)
        kw.setdefault("errors", "backslashreplace")
        return subprocess.run(["nsenter", "-t", str(self.pid), "-n"] + list(argv), check=False, **kw)


def ss_in(pid):
    """ss -tuanpe in the network namespace of `pid`."""
    return ss_inet(_Nsenter(pid))


def cleanup():
    """Remove every natest-* container and network (only those)."""
    ids = docker("ps", "-aq", "--filter", "name=^/%s" % PREFIX, check=False).stdout.split()
    if ids:
        docker("rm", "-f", *ids, check=False)
    nets = docker("network", "ls", "-q", "--filter", "name=^%s" % PREFIX, check=False).stdout.split()
    if nets:
        docker("network", "rm", *nets, check=False)


def leftovers():
    return docker("ps", "-aq", "--filter", "name=^/%s" % PREFIX, check=False).stdout.split()


def build_image(tag, cmd, expose=(), shell=True):
    """A local image (no registry): the static busybox of IMAGE with `cmd` as its CMD and `expose`
    ports EXPOSEd; shell=False leaves only /bin/busybox (no /bin/sh, no Python, no ss)."""
    src = docker("create", IMAGE).stdout.strip()
    try:
        exported = subprocess.run(["docker", "export", src], capture_output=True, check=True, timeout=120).stdout
    finally:
        docker("rm", "-f", src, check=False)
    if not shell:
        import io
        import tarfile

        tin = tarfile.open(fileobj=io.BytesIO(exported))
        out = io.BytesIO()
        tout = tarfile.open(fileobj=out, mode="w")
        for member in tin.getmembers():
            if member.issym() and member.name.startswith(("bin/", "./bin/")):
                continue  # the applet links: sh, nc, httpd, ... are gone
            tout.addfile(member, tin.extractfile(member) if member.isfile() else None)
        tout.close()
        exported = out.getvalue()
    changes = ["-c", "CMD %s" % json.dumps(list(cmd))]
    for port in expose:
        changes += ["-c", "EXPOSE %s" % port]
    subprocess.run(["docker", "import"] + changes + ["-", tag], input=exported, capture_output=True, check=True, timeout=120)
    return tag


def remove_images(prefix="netaudit-test/gate-"):
    out = docker("images", "--format", "{{.Repository}}:{{.Tag}}", check=False).stdout.split()
    mine = [i for i in out if i.startswith(prefix)]
    if mine:
        docker("rmi", "-f", *mine, check=False)
