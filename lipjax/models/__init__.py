"""Flax linen models: ParaLip and its baselines, discriminators, the DCK talking-face generator."""
