#!/usr/bin/env bash
# Copy the collection's tracked and new (not ignored) files into ROOT/ansible_collections/netaudit/netstat
# (where ansible-test and antsibull-docs want a collection), links kept as links.
#
#   scripts/collection-copy.sh ROOT
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dest="$1/ansible_collections/netaudit/netstat"
mkdir -p "$dest"
cd "$here"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  mkdir -p "$dest/$(dirname "$f")"
  cp -P "$f" "$dest/$f"
done
