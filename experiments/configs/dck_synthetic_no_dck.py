"""Ablation "without DCK" (DCK paper, Sec. IV): static middle convolutions, the audio fused once
by spatial attention; otherwise `dck_synthetic.py`."""

import os
import runpy


def get_config():
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "dck_synthetic.py"))["get_config"]()
    c.model.use_dck = False
    return c
