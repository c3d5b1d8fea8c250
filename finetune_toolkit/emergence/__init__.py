"""The emergence lab: instruments for in-context learning next to the `Trainer`.

- `measures`: per-position loss, Olsson et al.'s ICL score, per-head prefix-matching (induction) scores and the
  repeated-half loss, for any causal LM whose attention weights Transformers exposes (GPT-2, Llama, ...).
- `tracking`: `ICLTrackingCallback`, which records them every N training steps and plots the phase change
  (`scripts/finetune_lm.py --track_icl`).
- `experiment`: small GPT-2s trained from scratch on repeated random spans; a 2-layer model forms an induction
  head, a 1-layer model cannot (`scripts/emergence.py`); head ablation shows the copying depends on it.
- `addition`, `answer_metrics`, `scaling`: a model-size ladder on 3-digit addition, scored by exact match and by
  continuous measures of the same answers, with the sharpness of each (`scripts/scaling.py`).
"""

from .answer_metrics import answer_scores, evaluate_answers, sharpness
from .measures import (
    InductionScores,
    ablate_heads,
    head_ablation,
    icl_positions,
    icl_score,
    induction_scores,
    per_position_loss,
    repeated_random_tokens,
    token_losses,
)
from .tracking import ICLTrackingCallback, phase_change_step, plot_tracking

__all__ = ["ICLTrackingCallback", "InductionScores", "ablate_heads", "answer_scores", "evaluate_answers", "head_ablation",
           "icl_positions", "icl_score", "induction_scores", "per_position_loss", "phase_change_step", "plot_tracking",
           "repeated_random_tokens", "sharpness", "token_losses"]
