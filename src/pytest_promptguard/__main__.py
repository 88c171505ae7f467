"""`python -m pytest_promptguard schemas FOLDER`: write the editor JSON Schemas (see editor.py)."""

import sys

from .editor import main

sys.exit(main(sys.argv[1:]))
