"""Right-padding of variable-length sequences into one batch: the one helper for it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def pad_right(seqs: Sequence[torch.Tensor | np.ndarray], dtype: torch.dtype | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences that differ only in their last axis (numpy arrays or tensors) -> one zero-padded
    tensor (B, ..., T_max) on the first one's device, and their lengths (B,)."""
    if not seqs:
        raise ValueError("nothing to pad")
    tensors = [torch.as_tensor(s) for s in seqs]
    lengths = torch.tensor([t.shape[-1] for t in tensors])
    first = tensors[0]
    out = torch.zeros(len(tensors), *first.shape[:-1], int(lengths.max()),
                      dtype=dtype or first.dtype, device=first.device)
    for i, t in enumerate(tensors):
        out[i, ..., : t.shape[-1]] = t
    return out, lengths
