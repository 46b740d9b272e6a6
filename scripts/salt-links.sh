#!/usr/bin/env bash
# (Re)make the links of the Salt file_roots base (salt/) to the collection's own code and policies:
# salt/_utils/netaudit_netstat/{module_utils,plugin_utils}/*.py and salt/netaudit_netstat/policies/**,
# one relative symlink a file (never a copy: Salt's sync copies them to the minions; the
# collection stays the one source). tests/unit/test_salt_tree.py fails when a link is missing.
#   scripts/salt-links.sh          make the missing links, remove links to files that are gone
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

link_tree() {  # link_tree SOURCE_DIR DEST_DIR PATTERN...
  local src=$1 dest=$2; shift 2
  mkdir -p "$dest"
  # remove dangling links (a file renamed or removed in the collection)
  find "$dest" -type l ! -exec test -e {} \; -print -delete
  local pattern file rel target up
  for pattern in "$@"; do
    while IFS= read -r file; do
      rel=${file#"$src"/}
      mkdir -p "$dest/$(dirname "$rel")"
      # ../ for every level of dest/rel below the repository root
      up=$(dirname "$dest/$rel" | sed -e 's|[^/][^/]*|..|g')
      target="$up/$file"
      if [ "$(readlink "$dest/$rel" 2>/dev/null || true)" != "$target" ]; then
        ln -sfn "$target" "$dest/$rel"
        echo "salt-links: $dest/$rel -> $target"
      fi
    done < <(find "$src" -type f -name "$pattern" ! -path '*/__pycache__/*' | sort)
  done
}

link_tree plugins/module_utils salt/_utils/netaudit_netstat/module_utils '*.py'
link_tree plugins/plugin_utils salt/_utils/netaudit_netstat/plugin_utils '*.py'
link_tree policies salt/netaudit_netstat/policies '*.yml' '*.json'
