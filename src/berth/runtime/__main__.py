import sys

from berth.runtime.cli import main

sys.exit(main())
