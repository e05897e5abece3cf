"""`python -m harness.faults`: the fault proxy and its Faults gRPC service, standalone (see `run.main`)."""

import sys

from .run import main

sys.exit(main())
