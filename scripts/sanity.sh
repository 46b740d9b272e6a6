#!/usr/bin/env bash
# ansible-test sanity, offline: copies the collection's tracked and new files into
# <tmp>/ansible_collections/netaudit/netstat (where ansible-test needs it) and runs there.
# Extra arguments go to ansible-test (e.g. --test validate-modules).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
"$here/scripts/ansible-test-offline-pip.sh"
work=$(mktemp -d /tmp/netaudit-sanity.XXXXXX)
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/netaudit/netstat"
bash "$here/scripts/collection-copy.sh" "$work"
cd "$dest"
# NETAUDIT_VENV: the venv whose ansible-test runs (default .venv; the version matrix passes its own)
venv=${NETAUDIT_VENV:-$here/.venv}
export PATH="$venv/bin:$PATH"
ansible-test sanity --python "$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')" \
  --requirements --color no "$@"
