"""`python -m aval.clients.cli.main`: the `aval` command line."""

import sys

from aval.clients.cli.main import main

sys.exit(main())
