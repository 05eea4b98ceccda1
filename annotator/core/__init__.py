"""Domain objects, the Mask value type, metrics and undo commands. No I/O, no Qt, no torch."""
