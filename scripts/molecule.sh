#!/usr/bin/env bash
# Runs every molecule scenario under molecule/ (no Galaxy, no docker: local host and network
# namespaces only).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export PATH="$here/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$here/.venv/collections"
export NETAUDIT_PYTHON="$here/.venv/bin/python"
export MOLECULE_NO_LOG=false
export NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0
for scenario in molecule/*/molecule.yml; do
  name=$(basename "$(dirname "$scenario")")
  echo "-- molecule scenario $name"
  molecule test -s "$name"
done
