"""The desktop bundle's executable: the same command line as the pip install's ``annotator``
(no command opens the app)."""

import multiprocessing

# A process the metrics pool spawns starts this executable again: freeze_support runs the
# worker's task there and exits, where the command line would refuse its arguments.
multiprocessing.freeze_support()

from annotator.cli import main  # noqa: E402

raise SystemExit(main())
