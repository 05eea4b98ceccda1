"""Use cases without Qt: import, export, review, proposing, settings. Long work takes a Task."""
