"""``python -m xrclient`` runs the command line."""

import sys

from xrclient.cli import main

sys.exit(main())
