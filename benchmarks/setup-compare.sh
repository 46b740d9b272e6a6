#!/usr/bin/env bash
# Installs what the benchmark compares against but the collection does not need: the `ansible`
# package's community.general (for listen_ports_facts), unpacked into benchmarks/.deps without
# touching the project's ansible-core. run.py adds benchmarks/.deps to ANSIBLE_COLLECTIONS_PATH.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -d "$here/.deps/ansible_collections/community/general" ]; then
  echo "community.general already in $here/.deps"
  exit 0
fi
"$here/../.venv/bin/python" -m pip install -q --no-deps --target "$here/.deps" 'ansible>=12,<13' 2>&1 | grep -v "^WARNING: Location" || true
find "$here/.deps/ansible_collections" -mindepth 1 -maxdepth 1 -not -name community -exec rm -rf {} +
find "$here/.deps/ansible_collections/community" -mindepth 1 -maxdepth 1 -not -name general -exec rm -rf {} +
ls "$here/.deps/ansible_collections/community/general/plugins/modules/listen_ports_facts.py"
