"""python -m host_tools.server: see cli.py."""

import sys

from .cli import main

sys.exit(main())
