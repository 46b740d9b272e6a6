#!/usr/bin/env python
# Copyright (c) netaudit.netstat contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The policy schema as an RST reference page (for scripts/docsite.sh).

    scripts/schema_rst.py policies/schema/netstat-policy.schema.json > policy_schema.rst
"""

import json
import re
import sys


def esc(text):
    """Plain text for RST: the characters of inline markup escaped."""
    return re.sub(r"([\\*`|_<>\[\]])", r"\\\1", text)


def table(out, title, props, required=()):
    out.append(title)
    out.append("-" * len(title))
    out.append("")
    out.append(".. list-table::")
    out.append("   :header-rows: 1")
    out.append("   :widths: 20 15 65")
    out.append("")
    out.append("   * - key")
    out.append("     - type")
    out.append("     - description")
    for key, spec in props.items():
        kind = spec.get("type") or ("one of several" if "anyOf" in spec or "oneOf" in spec else
                                    spec.get("$ref", "").split("/")[-1])
        if isinstance(kind, list):
            kind = " or ".join(kind)
        desc = " ".join((spec.get("description") or "").split())
        out.append("   * - ``%s``%s" % (key, " (required)" if key in required else ""))
        out.append("     - %s" % esc(kind or ""))
        out.append("     - %s" % esc(desc))
    out.append("")


def main(path):
    with open(path, encoding="utf-8") as f:
        schema = json.load(f)
    defs = schema.get("$defs") or schema.get("definitions") or {}
    out = [
        ".. _ansible_collections.netaudit.netstat.docsite.policy_schema:",
        "",
        "Policy schema reference",
        "=======================",
        "",
        "Every key a policy file may hold (``policies/schema/netstat-policy.schema.json``). An unknown",
        "key is an error. The policy guide says what each rule means.",
        "",
    ]
    table(out, "Top level", schema.get("properties") or {}, schema.get("required") or ())
    for name, spec in sorted(defs.items()):
        if isinstance(spec, dict) and spec.get("properties"):
            table(out, "Definition %s" % name, spec["properties"], spec.get("required") or ())
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
