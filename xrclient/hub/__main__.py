"""``python -m xrclient.hub hub|token|audit ...``."""

import sys

from xrclient.hub.cli import main

sys.exit(main())
