"""Hostile: connects to the host's loopback TCP port given as {"port": N} on stdin."""

import json
import socket
import sys

port = json.loads(sys.stdin.read())["port"]
try:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as conn:
        conn.sendall(b"hello from the sandbox")
    print("connected")
except OSError as exc:
    print(f"failed: {type(exc).__name__}: {exc}")
