"""``python -m fastmlp.bench``: the same as ``fastmlp bench``."""

import sys

from . import main

sys.exit(main())
