"""Hostile: starts shell commands (os.system, subprocess) that try to write {"path": P} (stdin) on the host."""

import json
import os
import subprocess
import sys

path = json.loads(sys.stdin.read())["path"]
status = os.system(f"echo escaped > {path}")
print("os.system:", status)
try:
    done = subprocess.run(
        ["sh", "-c", f"echo escaped >> {path}; id -u; ls /"], capture_output=True, text=True, timeout=5
    )
    print("subprocess:", done.returncode, done.stdout.split(), done.stderr.strip())
except OSError as exc:
    print("subprocess failed:", exc)
