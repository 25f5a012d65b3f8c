"""Hostile: tries to open kernel settings for writing (it writes nothing: opening is the test).

A process whose uid is root on the host passes the permission check of files like core_pattern (a write
there would make the host run a program of its choice as root); prints {path: "OPENED" | the error}.
"""

import json
import os

report = {}
for path in ("/proc/sys/kernel/core_pattern", "/proc/sys/kernel/pid_max", "/proc/sys/vm/drop_caches"):
    try:
        os.close(os.open(path, os.O_WRONLY))
        report[path] = "OPENED"
    except OSError as exc:
        report[path] = type(exc).__name__
print(json.dumps(report))
