#!/usr/bin/env bash
# Runs every molecule scenario under molecule/ (no Galaxy; the gate scenarios run real containers
# on the Docker daemon of scripts/docker.sh, started here when none answers and stopped after). The collection is used from the checkout (ANSIBLE_COLLECTIONS_PATH, molecule's
# prerun is off) and ansible's and molecule's state goes to a temporary directory removed at the
# end: nothing is left in ~/.ansible or ~/.cache.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
state=$(mktemp -d /tmp/netaudit-molecule.XXXXXX)
started_docker=0
finish() {
  rm -rf "$state"
  if [ "$started_docker" = 1 ]; then bash "$here/scripts/docker.sh" stop >/dev/null; fi
}
trap finish EXIT
if ! bash "$here/scripts/docker.sh" status >/dev/null 2>&1; then
  bash "$here/scripts/docker.sh" start
  started_docker=1
fi
export PATH="$here/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$here/.venv/collections"
export ANSIBLE_HOME="$state/ansible"
export ANSIBLE_LOCAL_TEMP="$state/ansible/tmp"
export XDG_CACHE_HOME="$state/cache"
export NETAUDIT_PYTHON="$here/.venv/bin/python"
export MOLECULE_NO_LOG=false
export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
for scenario in molecule/*/molecule.yml; do
  name=$(basename "$(dirname "$scenario")")
  echo "-- molecule scenario $name"
  molecule test -s "$name"
done
