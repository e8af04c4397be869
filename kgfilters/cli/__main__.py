import sys

from kgfilters.cli import main

sys.exit(main())
