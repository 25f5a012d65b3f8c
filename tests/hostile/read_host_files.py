"""Hostile: tries to read host files and list host folders given as {"paths": [...]} (stdin)."""

import json
import os
import sys

report = {}
for path in json.loads(sys.stdin.read())["paths"]:
    try:
        if os.path.isdir(path):
            report[path] = f"listed {len(os.listdir(path))}"
        else:
            with open(path, "rb") as handle:
                report[path] = f"read {len(handle.read())}"
    except OSError as exc:
        report[path] = f"{type(exc).__name__}"
print(json.dumps(report))
