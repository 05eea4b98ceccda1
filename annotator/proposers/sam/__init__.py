"""Segment-Anything click engine: MobileSAM (default) and official SAM ViT-B/L/H behind the
``Segmenter`` protocol, with an image-embedding cache in memory and on disk."""
