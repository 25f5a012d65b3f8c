"""Hostile: never ends (the wall-clock limit must stop it)."""

while True:
    pass
