"""Procedural corpora built locally: rendered lip videos and talking faces with matching audio."""
