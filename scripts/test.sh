#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run every test stage: lint, unit, integration (network namespaces,
# needs root), containers (a real Docker daemon), salt (real Salt), the version matrix, ansible-test sanity and molecule. Stops at the first failing stage.
# NETAUDIT_SKIP="sanity molecule" skips stages by name (for quick local runs; CI runs them all).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# The HTML report is rendered in headless Chromium by the tests: install it (apt) and require it.
export NETAUDIT_WITH_CHROMIUM="${NETAUDIT_WITH_CHROMIUM:-1}"
export NETAUDIT_WITH_TEST_TOOLS=1
bash scripts/setup.sh
export PATH="$here/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$here/.venv/collections"
skip=" ${NETAUDIT_SKIP:-} "
passed=0
failed=0

stage() {
  local name=$1; shift
  if [[ "$skip" == *" $name "* ]]; then
    echo "== $name: skipped (NETAUDIT_SKIP)"
    return 0
  fi
  echo "== $name: $*"
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "== $name: ok ($((SECONDS - start))s)"
  else
    local rc=$?
    failed=$((failed + 1))
    echo "== $name: FAILED (exit $rc)"
    echo "stages: $passed passed, $failed failed"
    exit 1
  fi
}

# pytest exit 5 means no test ran: that is a failure here, never a pass.
run_pytest() {
  local rc=0
  python -m pytest -q -p no:cacheprovider "$@" || rc=$?
  if [ "$rc" = 5 ]; then
    echo "pytest collected no tests in $*: failing" >&2
  fi
  return "$rc"
}

# Tool state (ansible-lint's cache, ansible's temp files) goes to a directory removed at the end,
# never to ~/.cache or ~/.ansible.
scratch=$(mktemp -d /tmp/netaudit-test.XXXXXX)
trap 'rm -rf "$scratch"' EXIT

# A stage function runs as an `if` condition, where set -e does not apply: chain the commands so
# that any one failing fails the stage.
lint() {
  ruff check plugins tests benchmarks scripts salt &&
    yamllint -s policies playbooks molecule changelogs meta galaxy.yml .ansible-lint &&
    XDG_CACHE_HOME="$scratch/cache" ANSIBLE_HOME="$scratch/ansible" ansible-lint --nocolor -q
}

# Nothing of the suite may stay outside the checkout: no copy of the collection in ~/.ansible.
clean_house() {
  local left
  left=$(ls -d "${HOME}"/.ansible/collections/ansible_collections/netaudit 2>/dev/null || true)
  if [ -n "$left" ]; then
    echo "a copy of the collection was left in $left" >&2
    return 1
  fi
}

stage lint lint
stage unit run_pytest tests/unit
stage integration run_pytest tests/integration
# A real Docker daemon (Debian's docker.io, started by scripts/docker.sh and stopped at the end).
NETAUDIT_REQUIRE_DOCKER=1 stage containers run_pytest tests/containers
# The Salt front end through real Salt (.venv-salt): salt-call --local in namespaces, and a
# salt-master with minions on a namespace's loopback.
NETAUDIT_REQUIRE_SALT=1 stage salt run_pytest tests/salt
# The oldest and newest ansible-core and Pythons the collection claims (see the README).
stage matrix bash scripts/matrix.sh
stage sanity bash scripts/sanity.sh
if [ -d molecule ]; then
  stage molecule bash scripts/molecule.sh
fi
stage clean-house clean_house
echo "stages: $passed passed, $failed failed"
