"""``python -m realtime_fast``: the same as the ``realtime-fast`` command."""

import sys

from .cli import main

sys.exit(main())
