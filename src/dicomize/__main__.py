"""``python -m dicomize``."""

import sys

from dicomize.cli import main

sys.exit(main())
