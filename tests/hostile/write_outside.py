"""Hostile: tries to write each path of {"paths": [...]} (stdin); prints {path: "written" | the error}."""

import json
import sys

report = {}
for path in json.loads(sys.stdin.read())["paths"]:
    try:
        with open(path, "w") as handle:
            handle.write("escaped")
        report[path] = "written"
    except OSError as exc:
        report[path] = f"{type(exc).__name__}: {exc.strerror}"
print(json.dumps(report))
