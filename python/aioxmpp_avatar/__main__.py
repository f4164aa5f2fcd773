"""``python -m aioxmpp_avatar`` and the ``aioxmpp-avatar`` console script.

The command-line interface lives in :mod:`aioxmpp_avatar.cli`; see its
docstring (or ``aioxmpp-avatar --help``) for the commands and exit codes.
"""

from __future__ import annotations

import sys
from typing import Optional, Sequence

from .cli import main as cli_main


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run the CLI and exit with its exit code."""
    sys.exit(cli_main(argv))


if __name__ == "__main__":
    main()
