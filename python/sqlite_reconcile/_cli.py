"""The ``reconcile`` command installed with the package: the same command line as the Rust
binary, compiled into the native module."""

import sys

from . import _native


def main() -> int:
    """Runs ``reconcile`` with this process's arguments; its exit status."""
    return _native.run_cli(["reconcile", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
