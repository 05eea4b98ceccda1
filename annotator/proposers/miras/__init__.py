"""MIRAS backend (LLaVA-1.5 + CLIP [+ ConvNeXt aux] + SAM with a [SEG] token).

Importing this package does not import torch; the network is built when a proposer is made.
"""

from __future__ import annotations

from annotator.proposers.miras.proposer import MirasProposer

__all__ = ["MirasProposer"]
