"""`make demo`: both systems end to end on the CPU (`python -m lipjax.demo --help`).

  checkpoints  the small trained checkpoints shipped in experiments/demo_checkpoints/
  train        trains the LMD regressor, ParaLip and DCK from nothing (`--train`)
  showcase     test metrics, videos and a contact sheet from two trained workdirs
"""
