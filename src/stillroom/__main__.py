"""`python -m stillroom`: the same command line as `stillroom`."""

from stillroom.cli import main

raise SystemExit(main())
