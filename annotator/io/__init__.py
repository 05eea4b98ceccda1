"""Every untrusted byte enters here: images, paths, PRIST / LabelMe / JSONL readers, and the
COCO / JSONL / LabelMe writers. Depends on ``annotator.core`` only."""
