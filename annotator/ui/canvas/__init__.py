"""The image canvas: a zoomable view, the image and mask overlay items, and editing tools."""
