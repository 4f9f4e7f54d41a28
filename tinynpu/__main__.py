"""``python -m tinynpu``: the command line."""

from .cli import main

raise SystemExit(main())
