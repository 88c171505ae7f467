"""`python -m pytest_promptguard schemas FOLDER | merge REPORT.json ...`: see cli.py."""

import sys

from .cli import main

sys.exit(main(sys.argv[1:]))
