#!/usr/bin/env bash
# Writes the cached get-pip stand-in that lets `ansible-test sanity --requirements` run offline.
set -euo pipefail
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
body='#!/usr/bin/env python
"""Offline stand-in for get-pip.py (written by netaudit.netstat scripts/setup.sh)."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
'
for ver in 21_3_1 22_3_1 23_1_2 23_3_1 24_0 24_2 24_3_1 25_0_1 25_1_1 25_2 25_3; do
  printf '%s' "$body" > "$cache/get_pip_$ver.py"
done
