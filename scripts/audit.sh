#!/usr/bin/env bash
# Set up (scripts/setup.sh) and audit this machine against the collection's default policy
# (policies/default.yml), writing report.json, junit.xml, report.md and report.html to ./reports
# (or $NETAUDIT_REPORT_DIR). Prints the verdict.
#
#   scripts/audit.sh            report only: exit 0 once the reports are written (4 when the host
#                               could not be audited, e.g. a policy error: that is never a pass)
#   scripts/audit.sh --gate     CI gate, exit code by verdict:
#                                 0 compliant, 1 drift, 3 incomplete (something could not be
#                                 seen), 4 could not audit (failed, unreachable, policy error,
#                                 no report), 2 usage error
#   scripts/audit.sh -e netaudit_policies='["/path/my.yml"]'   other policies (extra args go to
#                                                              ansible-playbook)
#   scripts/audit.sh --gate --image IMAGE -e ...   gate a container image instead of this machine
#                               (netaudit.netstat.image_gate: run it, wait until its sockets
#                               settle, audit its namespace, remove it); a container that exits
#                               or never settles is "could not audit" (4)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
gate=0
image=
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --gate) gate=1 ;;
    --image)
      [ $# -ge 2 ] || { echo "audit: --image needs an image name" >&2; exit 2; }
      image=$2
      shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done
if ! bash "$here/scripts/setup.sh"; then
  echo "audit: setup failed (see above)" >&2
  exit 4
fi
export PATH="$here/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$here/.venv/collections"
export NETAUDIT_REPORT_DIR="${NETAUDIT_REPORT_DIR:-$PWD/reports}"
export ANSIBLE_CALLBACKS_ENABLED="netaudit.netstat.netstat_report"
export ANSIBLE_NOCOLOR="${ANSIBLE_NOCOLOR:-1}"
export ANSIBLE_LOCALHOST_WARNING=False
export ANSIBLE_INVENTORY_UNPARSED_WARNING=False
rc=0
playbook=netaudit.netstat.audit
extra=()
if [ -n "$image" ]; then
  playbook=netaudit.netstat.image_gate
  extra=(-e "netaudit_image=$image")
fi
ansible-playbook -i "localhost," -c local \
  -e "ansible_python_interpreter=$here/.venv/bin/python" ${extra[@]+"${extra[@]}"} \
  "$playbook" ${args[@]+"${args[@]}"} || rc=$?
if [ ! -s "$NETAUDIT_REPORT_DIR/report.json" ]; then
  echo "audit: no report was written to $NETAUDIT_REPORT_DIR (ansible-playbook exit $rc)" >&2
  exit 4
fi
verdict=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("verdict") or "failed")' \
  "$NETAUDIT_REPORT_DIR/report.json")
echo
sed -n '1,40p' "$NETAUDIT_REPORT_DIR/report.md"
echo
echo "Verdict: $verdict. Reports: $NETAUDIT_REPORT_DIR/{report.json,junit.xml,report.md,report.html,report.sarif}"
case "$verdict" in
  compliant) code=0 ;;
  drift) code=1 ;;
  incomplete) code=3 ;;
  *) code=4 ;;
esac
if [ "$code" = 0 ] && [ "$rc" != 0 ]; then
  code=4  # the playbook failed although the report says compliant: never a pass
fi
if [ "$gate" = 1 ]; then
  exit "$code"
fi
if [ "$code" = 4 ]; then
  exit 4
fi
exit 0
