"""``python -m ladle`` runs the ``ladle`` command."""

from ladle.cli import main

main()
