"""Paths of the repository that tests read (config files, the README, the docs)."""

import os

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = os.path.join(REPO, "experiments", "configs")
