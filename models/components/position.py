"""The 4-channel positional grid of Slot Attention / EfficientMORL.

The reference builds the grid as ``[W, H, 4]`` (channels: distance to right, left, top, bottom as
linspaces) and adds it to features laid out ``[H, W]``; for square images this transposes the
grid, and official checkpoints depend on it. :func:`position_grid` reproduces that layout for
square images and extends it to ``H != W`` the only consistent way: channels 0-1 vary along the
rows (length H), channels 2-3 along the columns (length W).
"""

from __future__ import annotations

import torch
from torch import Tensor


def position_grid(height: int, width: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """``[height, width, 4]``: (1->0, 0->1) along rows, then (0->1, 1->0) along columns."""
    def along_rows(start: float, end: float) -> Tensor:
        return torch.linspace(start, end, height, dtype=dtype).view(height, 1).expand(height, width)

    def along_cols(start: float, end: float) -> Tensor:
        return torch.linspace(start, end, width, dtype=dtype).view(1, width).expand(height, width)

    # separate linspaces (not 1 - x) so the values match the reference bit for bit
    channels = [along_rows(1, 0), along_rows(0, 1), along_cols(0, 1), along_cols(1, 0)]
    return torch.stack(channels, dim=-1).contiguous()
