"""``python -m cli``: the ``availability`` command."""

import sys

from cli.main import main

sys.exit(main())
