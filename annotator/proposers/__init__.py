"""Models that propose masks: the ``Proposer`` protocol (per turn), the ``Segmenter`` protocol (per
click), their backends, and the weights registry. torch and friends are imported inside functions
only, so importing this package stays cheap."""
