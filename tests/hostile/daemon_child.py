"""Hostile: leaves a plain child and a double-forked, setsid daemon running, then exits 0.

Both name themselves {"token": NAME} (stdin) so the test can look for them on the host afterwards; the
program prints "daemon started" only once the daemon is up and named.
"""

import ctypes
import json
import os
import sys
import time

token = json.loads(sys.stdin.read())["token"]
name = token.encode()
ready_r, ready_w = os.pipe()
if os.fork() == 0:  # a plain child that outlives its parent
    ctypes.CDLL(None).prctl(15, name, 0, 0, 0)
    time.sleep(60)
    os._exit(0)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:  # the daemon
        ctypes.CDLL(None).prctl(15, name, 0, 0, 0)
        os.write(ready_w, b"1")
        for fd in (0, 1, 2):
            os.close(fd)
        time.sleep(60)
        os._exit(0)
    os._exit(0)
os.close(ready_w)
if os.read(ready_r, 1) == b"1":
    print("daemon started", flush=True)
