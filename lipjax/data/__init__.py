"""Datasets: procedural synthetic corpora, tfds builders for real corpora, the input pipeline."""
