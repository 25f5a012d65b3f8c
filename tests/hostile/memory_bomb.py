"""Hostile: allocates (and touches) 64 MiB after 64 MiB until something stops it."""

hoard = []
while True:
    hoard.append(b"x" * (64 << 20))
