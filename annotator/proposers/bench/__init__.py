"""What ``annotator bench`` measures on the model side (torch stays in ``annotator.proposers``):
SAM's arithmetic per encode and click with this machine's matrix rate, and a full-size random
MIRAS for timing propose without weights. The product's own proposers never import this."""
