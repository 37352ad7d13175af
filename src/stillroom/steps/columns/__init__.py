"""Column steps (`KeepColumns`, `GroupColumns`, ...) and the column bookkeeping every step uses.

The bookkeeping helpers live in `stillroom.steps.bookkeeping` (below `steps.base`, which
uses them, and these steps, which subclass it) and are re-exported here, so
`from stillroom.steps.columns import check_required_columns` keeps working now that this
is a package (distilabel's `distilabel.steps.columns.keep` etc. need it to be one).
"""

from stillroom.steps.bookkeeping import (
    apply_input_mappings,
    check_required_columns,
    normalize_columns,
    restore_columns,
)

__all__ = [
    "apply_input_mappings",
    "check_required_columns",
    "normalize_columns",
    "restore_columns",
]
