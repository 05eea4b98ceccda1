"""Tools for developing PRIST Annotator that are not shipped with it: the crash-consistency
harnesses the tests and the README's reliability checks run from a source checkout
(``python -m annotator_devtools.kill_harness``)."""
