"""Crash-consistency harness: a writer saving through the real store is SIGKILLed at random
moments and the database is checked after each kill (``python -m annotator_devtools.kill_harness
--help``)."""
