"""`python -m app` is `interlingua`."""

import sys

from app.cli import main

sys.exit(main())
