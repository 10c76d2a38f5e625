"""``python -m curation.cli`` = the ``curate`` command."""
import sys

from curation.cli import main

sys.exit(main())
