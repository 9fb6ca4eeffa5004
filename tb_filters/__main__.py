"""`python -m tb_filters` is `tb-filters`."""

import sys

from tb_filters.cli import main

sys.exit(main())
