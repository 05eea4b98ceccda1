"""PRIST Annotator: curate pixel-level reasoning-segmentation data (PRIST) with MIRAS and SAM."""

from __future__ import annotations

__version__ = "0.1.0"
