"""Ablation "without blending" (DCK paper, Sec. IV): the network's motion image is the output
frame (no attention mask); otherwise `dck_synthetic.py`."""

import os
import runpy


def get_config():
    c = runpy.run_path(os.path.join(os.path.dirname(__file__), "dck_synthetic.py"))["get_config"]()
    c.model.use_blending = False
    return c
