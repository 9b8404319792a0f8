"""Run `python -m worker …` as the `changeguard` command."""

import sys

from .cli import main

sys.exit(main())
