#!/usr/bin/env bash
# The version matrix: what the collection claims, proved.
#
#   - the oldest and the newest ansible-core it claims (meta/runtime.yml requires_ansible), each on
#     a controller Python that ansible-core supports, in a venv of its own (.venv-matrix/): the
#     unit tests, the integration tests that run the audit through ansible-playbook, and
#     ansible-test sanity;
#   - the facts module on the oldest and the newest managed-host Python it claims (with the
#     project's controller): the facts-vs-ss and netlink-vs-ss integration tests.
#
# The interpreters are pyenv's ($PYENV_ROOT, default ~/.pyenv), or pythonX.Y on PATH; one that is
# missing fails the stage (it never skips). NETAUDIT_MATRIX_SANITY=0 leaves sanity out (quick runs).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# ansible-core series : controller Python
CORES=${NETAUDIT_MATRIX_CORES:-"2.16:3.11 2.21:3.13"}
# managed-host Pythons (the modules claim 3.8+)
HOSTS=${NETAUDIT_MATRIX_HOST_PYTHONS:-"3.8 3.13"}
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}

find_python() {
  local want=$1 found=
  if [ -d "$pyenv_root/versions" ]; then
    found=$(find "$pyenv_root/versions" -maxdepth 1 -name "$want.*" -type d | sort -V | tail -n 1)
    if [ -n "$found" ] && [ -x "$found/bin/python$want" ]; then
      echo "$found/bin/python$want"
      return 0
    fi
  fi
  if command -v "python$want" >/dev/null 2>&1; then
    command -v "python$want"
    return 0
  fi
  return 1
}

failed=0
run() {
  local what=$1; shift
  echo "-- matrix: $what"
  if ! "$@"; then
    echo "-- matrix: FAILED: $what" >&2
    failed=1
  fi
}

for entry in $CORES; do
  core=${entry%%:*}
  py=${entry##*:}
  if ! interp=$(find_python "$py"); then
    echo "matrix: Python $py (the controller for ansible-core $core) was not found in $pyenv_root/versions or on PATH" >&2
    exit 1
  fi
  venv="$here/.venv-matrix/core-$core-py$py"
  want="ansible-core~=$core.0 jsonschema PyYAML pytest hypothesis lxml psutil markdown-it-py"
  if [ "$(cat "$venv/.stamp" 2>/dev/null)" != "$want" ]; then
    echo "matrix: ansible-core $core on $("$interp" --version) in $venv (pip output in $venv.log)"
    rm -rf "$venv"
    "$interp" -m venv "$venv"
    # shellcheck disable=SC2086
    if ! { "$venv/bin/python" -m pip install --upgrade pip && "$venv/bin/python" -m pip install $want; } >"$venv.log" 2>&1; then
      tail -n 20 "$venv.log" >&2
      echo "matrix: pip failed for ansible-core $core" >&2
      exit 1
    fi
    echo "$want" > "$venv/.stamp"
  fi
  echo "matrix: $("$venv/bin/ansible" --version | head -n 1) on $("$venv/bin/python" --version)"
  env_core=(env NETAUDIT_VENV="$venv" ANSIBLE_COLLECTIONS_PATH="$here/.venv/collections" PATH="$venv/bin:$PATH")
  run "ansible-core $core: unit tests" "${env_core[@]}" "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit
  run "ansible-core $core: the audit through ansible-playbook" "${env_core[@]}" "$venv/bin/python" -m pytest -q \
    -p no:cacheprovider tests/integration/test_audit_policy.py tests/integration/test_units.py
  if [ "${NETAUDIT_MATRIX_SANITY:-1}" = 1 ]; then
    run "ansible-core $core: ansible-test sanity" env NETAUDIT_VENV="$venv" bash scripts/sanity.sh
  fi
done

for py in $HOSTS; do
  if ! interp=$(find_python "$py"); then
    echo "matrix: the managed-host Python $py was not found in $pyenv_root/versions or on PATH" >&2
    exit 1
  fi
  echo "matrix: the modules on $("$interp" --version) ($interp)"
  # psutil is an optional backend; a bare interpreter has none
  run "managed host Python $py: facts vs ss" env NETAUDIT_HOST_PYTHON="$interp" NETAUDIT_BACKENDS=netlink,procfs \
    ANSIBLE_COLLECTIONS_PATH="$here/.venv/collections" "$here/.venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/integration/test_netstat_facts_vs_ss.py tests/integration/test_netlink_vs_ss.py
done

if [ "$failed" != 0 ]; then
  echo "matrix: some combination failed (above)" >&2
  exit 1
fi
echo "matrix: every combination passed"
