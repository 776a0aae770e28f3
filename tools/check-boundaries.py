#!/usr/bin/env python3
"""Fails when the crate boundaries of ARCHITECTURE.md are crossed: a context crate depends on another
context (they learn about each other from events only), or the kernel depends on any context.
Only the binary (`gonggu`) and the benchmarks may depend on contexts. Reference-data libraries
(`gonggu-places`: the embedded gazetteer, no state, no events) are like any outside crate: a
context may use them, and they may use only the kernel."""
import json
import subprocess
import sys

meta = json.loads(subprocess.check_output(["cargo", "metadata", "--no-deps", "--format-version", "1"]))
ours = {p["name"] for p in meta["packages"]}
assemblers = {"gonggu"}
libraries = {"gonggu-kernel", "gonggu-places"}
problems = []
for p in meta["packages"]:
    name = p["name"]
    if name in assemblers or not name.startswith("gonggu-"):
        continue
    for d in p["dependencies"]:
        dep = d["name"]
        if dep not in ours or dep == name:
            continue
        kernel_rule = name == "gonggu-kernel"
        library_rule = name in libraries and dep != "gonggu-kernel"
        context_rule = name not in libraries and dep not in libraries
        if kernel_rule or library_rule or context_rule:
            kind = d.get("kind") or "normal"
            problems.append(f"{name} depends on {dep} ({kind}); contexts may depend only on {sorted(libraries)}, libraries only on the kernel")
for line in problems:
    print(f"boundary violation: {line}", file=sys.stderr)
if problems:
    sys.exit(1)
print(f"crate boundaries hold ({len(ours)} workspace crates)")
