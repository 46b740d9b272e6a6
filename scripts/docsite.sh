#!/usr/bin/env bash
# Build the collection's docs site the way docs.ansible.com builds collection docs (antsibull-docs
# and Sphinx) into DEST (default: build/docsite; open DEST/html/index.html):
#   - the plugin and module docs;
#   - the guides in docs/*.md, converted to RST with pandoc as the collection's extra docs;
#   - a reference page of the policy schema (policies/schema/netstat-policy.schema.json).
# The Markdown files stay the only source: the RST exists only in the temporary copy built here.
# Offline, the links into docs.ansible.com stay unresolved (Sphinx warns; nothing else may).
#
#   scripts/docsite.sh [DEST]
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
dest=${1:-$here/build/docsite}
venv=${NETAUDIT_VENV:-$here/.venv}
export PATH="$venv/bin:$PATH"
command -v pandoc >/dev/null || { echo "docsite: pandoc is missing (apt-get install pandoc)" >&2; exit 1; }
work=$(mktemp -d /tmp/netaudit-docsite.XXXXXX)
trap 'rm -rf "$work"' EXIT
coll="$work/collections/ansible_collections/netaudit/netstat"
bash "$here/scripts/collection-copy.sh" "$work/collections"
rst="$coll/docs/docsite/rst"
mkdir -p "$rst"
guides=()
for md in docs/*.md; do
  name=$(basename "$md" .md)
  guides+=("$name")
  {
    echo ".. _ansible_collections.netaudit.netstat.docsite.$name:"
    echo
    pandoc -f gfm-gfm_auto_identifiers -t rst --wrap=none --columns=100000 "$md"
  } > "$rst/$name.rst"
done
"$venv/bin/python" "$here/scripts/schema_rst.py" "$here/policies/schema/netstat-policy.schema.json" > "$rst/policy_schema.rst"
guides+=(policy_schema)
{
  echo "---"
  echo "sections:"
  echo "  - title: Guides"
  echo "    toctree:"
  for g in "${guides[@]}"; do echo "      - $g"; done
} > "$coll/docs/docsite/extra-docs.yml"
export ANSIBLE_COLLECTIONS_PATH="$work/collections"
antsibull-docs lint-collection-docs --plugin-docs "$coll"
site="$work/site"
mkdir -m 700 "$site"
antsibull-docs sphinx-init --use-current --dest-dir "$site" netaudit.netstat >/dev/null
chmod 700 "$site/rst" 2>/dev/null || mkdir -m 700 "$site/rst"
(cd "$site" && antsibull-docs --config-file antsibull-docs.cfg collection --cleanup everything --use-current \
  --dest-dir rst netaudit.netstat)
rm -rf "$dest"
mkdir -p "$dest"
sphinx-build -M html "$site/rst" "$dest" -c "$site" 2> "$dest/warnings.log" > "$dest/build.log" || {
  tail -n 30 "$dest/warnings.log" >&2
  exit 1
}
echo "docsite: $dest/html/index.html ($(grep -c WARNING "$dest/warnings.log" || true) warning(s), in $dest/warnings.log)"
