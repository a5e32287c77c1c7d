"""``python -m estimator_spec_compat``: the ``estimator-spec-compat`` command."""

import sys

from estimator_spec_compat.cli import main

if __name__ == "__main__":
    sys.exit(main())
