"""Lipreading: a CTC lipreader and token durations without audio (ParaLip, AAAI 2022, Sec. 6).

  model         `Lipreader` (LipNet-style spatio-temporal convolutions + bidirectional GRU),
                `LipreaderConfig`
  data          lipreading examples (frames and tokens; durations only to compare with)
  decode        greedy CTC decoding, edit distance, CER / WER (jit-able)
  system        `LipreaderSystem`: CTC training, CER / WER / alignment-error evaluation
  align         `mas_durations` (the label tokens' CTC outputs, a softmax over them, monotonic
                alignment search) and `Aligner` (a trained lipreader's durations for records)
  dataset_copy  `write_aligned_copy`: a dataset copy whose durations come from the alignment
  cli           `lipjax data align`
"""

from lipjax._lazy import attach

__getattr__, __dir__, __all__ = attach(__name__, {
    "model": ["Lipreader", "LipreaderConfig", "validate_lipreader_config", "BLANK_ID"],
    "data": ["lipreading_example", "lipreading_lengths", "ctc_min_frames"],
    "decode": ["greedy_decode", "edit_distance", "symbol_errors", "word_errors", "drop_ids",
               "Sequences"],
    "system": ["LipreaderSystem", "ctc_loss_term", "lipreader_config"],
    "align": ["label_log_likelihood", "mas_durations", "Aligner", "restore_lipreader",
              "lipreader_workdir_config"],
    "dataset_copy": ["write_aligned_copy", "aligned_durations", "check_vocabulary",
                     "duration_agreement"],
})
