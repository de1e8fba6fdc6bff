"""``python -m devkit.localkafka``: see :mod:`devkit.localkafka.cli`."""

import sys

from devkit.localkafka.cli import main

sys.exit(main())
