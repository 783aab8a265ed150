"""``python -m agentrl``: the same as the ``agentrl`` command."""

import sys

from agentrl.cli import main

sys.exit(main())
