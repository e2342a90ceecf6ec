"""``python -m routilux``: the ``routilux`` command."""

import sys

from routilux._cli import main

sys.exit(main())
