"""Importers for published PyTorch checkpoints (torch is only needed in the [torch] extra)."""
