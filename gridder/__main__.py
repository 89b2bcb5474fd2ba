"""``python -m gridder`` runs the command line."""

import sys

from gridder.cli import main

sys.exit(main())
