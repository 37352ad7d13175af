"""The `stillroom` command's exit statuses, so scripts can tell outcomes apart.

2 is argparse's own status for a usage error; 143 (stopped by SIGTERM) is documented with
the others in docs/pipeline/cli.md.
"""

OK = 0
"""The run finished and no row failed."""

ERROR = 1
"""An error with a message: an invalid pipeline or parameter, a step that raised..."""

FAILED_ROWS = 3
"""The run finished, but some rows failed (kept with the error in their metadata)."""

TOO_MANY_FAILURES = 4
"""The run was stopped by --max-failed-fraction."""

INTERRUPTED = 130
"""Stopped with Ctrl-C; running the same command again resumes."""
