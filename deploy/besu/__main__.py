import sys

from deploy.besu.cli import main

sys.exit(main())
