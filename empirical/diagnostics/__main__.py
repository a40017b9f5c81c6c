"""``python -m empirical.diagnostics RUN_DIR --what invariance|dropout-rate|local|gallery``."""

import sys

from empirical.diagnostics.diagnose import main

if __name__ == "__main__":
    sys.exit(main())
