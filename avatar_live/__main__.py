import sys

from avatar_live.cli import main

sys.exit(main())
