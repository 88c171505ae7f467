"""`python -m pytest_promptguard init | schemas FOLDER | merge REPORT.json ...`: see cli/__init__.py."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
