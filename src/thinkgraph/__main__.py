"""``python -m thinkgraph`` is the ``thinkgraph`` command."""

import sys

from thinkgraph.cli import main

sys.exit(main())
