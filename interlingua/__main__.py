"""`python -m interlingua` is `interlingua`."""

import sys

from interlingua.app.cli import main

sys.exit(main())
