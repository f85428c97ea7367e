"""pytest on CPython: firmware/ and the portable helpers come first on the import path."""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for sub in ("simulator/fakes", "firmware", "tests/portable", "tests"):
    path = os.path.join(ROOT, sub)
    if path not in sys.path:
        sys.path.insert(0, path)
