"""``python -m ladle`` runs the ``ladle`` command."""

from ladle.cli.app import main

main()
