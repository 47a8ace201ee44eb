import sys

from hubrelay_release.cli import main

sys.exit(main())
