"""`python -m devstack run|test|services|bench`: the embedded stack's command line."""

import sys

from devstack import main

sys.exit(main(sys.argv[1:]))
