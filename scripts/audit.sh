#!/usr/bin/env bash
# Set up (scripts/setup.sh) and audit this machine against the collection's default policy
# (policies/default.yml), writing report.json, junit.xml, report.md and report.html to ./reports
# (or $NETAUDIT_REPORT_DIR). Prints the verdict.
#
#   scripts/audit.sh            report only: exit 0 once the reports are written
#   scripts/audit.sh --gate     CI gate: exit non-zero when the host drifts or cannot be audited
#   scripts/audit.sh -e netaudit_policies='["/path/my.yml"]'   other policies (extra args go to
#                                                              ansible-playbook)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
gate=0
args=()
for a in "$@"; do
  if [ "$a" = "--gate" ]; then gate=1; else args+=("$a"); fi
done
bash "$here/scripts/setup.sh" >/dev/null
export PATH="$here/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$here/.venv/collections"
export NETAUDIT_REPORT_DIR="${NETAUDIT_REPORT_DIR:-$PWD/reports}"
export ANSIBLE_CALLBACKS_ENABLED="netaudit.netstat.netstat_report"
export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-1}"
export ANSIBLE_LOCALHOST_WARNING=False
export ANSIBLE_INVENTORY_UNPARSED_WARNING=False
rc=0
ansible-playbook -i "localhost," -c local \
  -e "ansible_python_interpreter=$here/.venv/bin/python" \
  netaudit.netstat.audit "${args[@]}" || rc=$?
if [ ! -s "$NETAUDIT_REPORT_DIR/report.json" ]; then
  echo "audit: no report was written to $NETAUDIT_REPORT_DIR (ansible-playbook exit $rc)" >&2
  exit 1
fi
echo
echo "Reports: $NETAUDIT_REPORT_DIR/{report.json,junit.xml,report.md,report.html}"
sed -n '1,40p' "$NETAUDIT_REPORT_DIR/report.md"
if [ "$gate" = 1 ]; then
  exit "$rc"
fi
exit 0
