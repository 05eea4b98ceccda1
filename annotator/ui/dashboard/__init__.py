"""The quality dashboard (model vs reviewers, agreement, edits) shown inside the app."""

from __future__ import annotations

from annotator.ui.dashboard.dashboard_widget import QualityDashboard

__all__ = ["QualityDashboard"]
