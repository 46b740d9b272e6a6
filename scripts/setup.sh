#!/usr/bin/env bash
# Set up everything this project needs on a fresh Debian machine (run as root or with sudo):
# system tools (iproute2 for ss/ip netns, net-tools for netstat), a virtualenv in .venv with
# ansible-core and the controller/test dependencies, the collection linked into
# .venv/collections, and an offline pip bootstrap for ansible-test.
# Idempotent: a second run only checks.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

need_apt=()
command -v ss >/dev/null 2>&1 || need_apt+=(iproute2)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v netstat >/dev/null 2>&1 || need_apt+=(net-tools)
if [ "${NETAUDIT_WITH_CHROMIUM:-0}" = 1 ] && ! command -v chromium >/dev/null 2>&1; then
  need_apt+=(chromium)
fi
# The test suite's tools: shellcheck (ansible-test's shellcheck sanity test).
if [ "${NETAUDIT_WITH_TEST_TOOLS:-0}" = 1 ] && ! command -v shellcheck >/dev/null 2>&1; then
  need_apt+=(shellcheck)
fi
# pandoc: docs/*.md into the docs site (scripts/docsite.sh)
if [ "${NETAUDIT_WITH_TEST_TOOLS:-0}" = 1 ] && ! command -v pandoc >/dev/null 2>&1; then
  need_apt+=(pandoc)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing system packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"; } >/tmp/netaudit-apt.log 2>&1; then
    tail -n 30 /tmp/netaudit-apt.log >&2
    echo "setup: apt-get failed (log: /tmp/netaudit-apt.log)" >&2
    exit 1
  fi
fi

py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$py" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(sha256sum requirements-dev.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python requirements into .venv (pip output in .venv/pip.log)"
  if ! { .venv/bin/python -m pip install --upgrade pip && .venv/bin/python -m pip install -r requirements-dev.txt; } \
      >.venv/pip.log 2>&1; then
    tail -n 30 .venv/pip.log >&2
    echo "setup: pip failed; the whole log is .venv/pip.log" >&2
    exit 1
  fi
  echo "$want" > "$stamp"
fi

# Salt for the Salt front end's tests and benchmark (salt/, tests/salt): its own venv, so that
# Salt's pins and ansible-core's never meet.
if [ "${NETAUDIT_WITH_TEST_TOOLS:-0}" = 1 ] || [ "${NETAUDIT_WITH_SALT:-0}" = 1 ]; then
  sstamp=.venv-salt/.requirements.sha
  swant=$(sha256sum requirements-salt.txt | cut -d' ' -f1)
  if [ ! -x .venv-salt/bin/salt-call ] || [ "$(cat "$sstamp" 2>/dev/null)" != "$swant" ]; then
    echo "setup: installing Salt into .venv-salt (pip output in .venv-salt/pip.log)"
    [ -x .venv-salt/bin/python ] || "$py" -m venv .venv-salt
    if ! .venv-salt/bin/python -m pip install -r requirements-salt.txt >.venv-salt/pip.log 2>&1; then
      tail -n 30 .venv-salt/pip.log >&2
      echo "setup: pip failed for Salt; the whole log is .venv-salt/pip.log" >&2
      exit 1
    fi
    echo "$swant" > "$sstamp"
  fi
fi

# The collection, where ansible looks for it: .venv/collections/ansible_collections/netaudit/netstat
coll=.venv/collections/ansible_collections/netaudit
mkdir -p "$coll"
ln -sfn "$here" "$coll/netstat"

# ansible-test downloads get-pip.py from a host that is not reachable here; it looks in its cache
# first. Write a stand-in that bootstraps pip with ensurepip (in a subprocess) and installs the
# requested packages.
"$here/scripts/ansible-test-offline-pip.sh"
echo "setup: done (ANSIBLE_COLLECTIONS_PATH=$here/.venv/collections)"
