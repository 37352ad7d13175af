"""`python -m stillroom`: the same command line as `stillroom`.

The command line runs only when this module is the program (`__name__ == "__main__"`), so
importing it, by accident or from a crafted pipeline file, does nothing.
"""

from stillroom.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
