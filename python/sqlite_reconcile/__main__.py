"""``python -m sqlite_reconcile ARGS``: the ``reconcile`` command."""

import sys

from ._cli import main

sys.exit(main())
