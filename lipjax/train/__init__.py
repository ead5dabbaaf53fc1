"""Training: train state, per-device steps, device wrappers, checkpoints, the train loop."""
