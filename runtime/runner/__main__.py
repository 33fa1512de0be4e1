"""``python -m runtime.runner``: the runner process (see :mod:`runtime.runner.process`)."""

from runtime.runner.process import main

raise SystemExit(main())
