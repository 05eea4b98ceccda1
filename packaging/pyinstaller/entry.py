"""The desktop bundle's executable: the same command line as the pip install's ``annotator``
(no command opens the app)."""

from annotator.cli import main

raise SystemExit(main())
