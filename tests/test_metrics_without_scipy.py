"""The metrics where scipy and scikit-image are absent, as in the desktop bundle (which leaves
them out, packaging/pyinstaller/annotator.spec): the MIRAS edge IoU says it needs them, the
mask metrics do not notice, and BLEU-4 / ROUGE-L still score (nltk, under rouge-score, falls
back from its scipy imports)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from annotator.core import metrics as M
from annotator.core.errors import AnnotatorError


def _square() -> np.ndarray:
    mask = np.zeros((40, 50), dtype=bool)
    mask[10:30, 12:40] = True
    return mask


def test_the_edge_iou_says_it_needs_scikit_image(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `from skimage.feature import ...` raise ImportError.
    monkeypatch.setitem(sys.modules, "skimage.feature", None)
    mask = _square()
    with pytest.raises(M.MetricUnavailableError, match="needs scikit-image") as caught:
        M.edge_iou(mask, mask)
    assert isinstance(caught.value, AnnotatorError)  # the CLI prints it as one line
    with pytest.raises(M.MetricUnavailableError):
        M.pair_metrics(mask, mask, edge=True)
    # Without --edge nothing needs scikit-image.
    plain = M.pair_metrics(mask, ~mask)
    assert plain.iou == 0.0 and M.pair_metrics(mask, mask).boundary_iou == 1.0


def test_text_scores_need_no_scipy() -> None:
    """In a fresh interpreter where importing scipy fails, as in the bundle."""
    script = textwrap.dedent(
        """
        import sys

        class NoScipy:
            def find_spec(self, name, path=None, target=None):
                if name == "scipy" or name.startswith("scipy."):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)
                return None

        sys.meta_path.insert(0, NoScipy())
        from annotator.services.text_metrics import TextScorer

        s = TextScorer().score("the red car on the left", "the red car at the left")
        assert "scipy" not in sys.modules
        print(round(s.bleu4, 6), round(s.rouge_l, 6))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    bleu, rouge = (float(x) for x in done.stdout.split())

    from annotator.services.text_metrics import TextScorer

    want = TextScorer().score("the red car on the left", "the red car at the left")
    assert (bleu, rouge) == (round(want.bleu4, 6), round(want.rouge_l, 6))
    assert 0.0 < bleu < 1.0 and rouge == pytest.approx(5 / 6)
