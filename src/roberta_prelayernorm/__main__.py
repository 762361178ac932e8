"""``python -m roberta_prelayernorm`` is ``rpln``."""

import sys

from .cli import main

sys.exit(main())
