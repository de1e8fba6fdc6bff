"""``python -m devkit``: the development commands (``./dev demo``, ``./dev generate``)."""

import sys

from devkit.main import main

sys.exit(main())
