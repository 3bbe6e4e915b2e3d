"""``python -m sigxfer.cli``: the ``sigxfer`` command."""

import sys

from sigxfer.cli import main

sys.exit(main())
