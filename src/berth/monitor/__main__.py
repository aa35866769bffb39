import sys

from berth.monitor.monitor import main

sys.exit(main())
