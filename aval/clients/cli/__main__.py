"""`python -m aval.clients.cli.program`: the `aval` command line."""

import sys

from aval.clients.cli.program import main

sys.exit(main())
