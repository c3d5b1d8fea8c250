"""Contextual calibration (Zhao et al. 2021, "Calibrate Before Use").

The model's label probabilities for content-free inputs ("N/A", "", "[MASK]") placed in the same prompt
measure its bias towards some labels. Calibrated probabilities divide that bias out:
q = normalise(p / p_cf), i.e. W = diag(p_cf)^-1 and b = 0 in the paper's notation.
"""

from __future__ import annotations

import torch

CONTENT_FREE_INPUTS = ("N/A", "", "[MASK]")


def label_probabilities(label_log_scores: torch.Tensor) -> torch.Tensor:
    """Probabilities over the labels only (a softmax of their log-probabilities)."""
    return torch.softmax(label_log_scores.double(), dim=-1)


def content_free_probabilities(content_free_log_scores: torch.Tensor) -> torch.Tensor:
    """p_cf: the mean, over the content-free inputs, of their label probabilities."""
    return label_probabilities(content_free_log_scores).mean(dim=0)


def calibrate(probabilities: torch.Tensor, p_cf: torch.Tensor) -> torch.Tensor:
    """Calibrated label probabilities: each row of `probabilities` divided by `p_cf`, renormalised."""
    adjusted = probabilities / p_cf
    return adjusted / adjusted.sum(dim=-1, keepdim=True)
