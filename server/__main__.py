import sys

from playbach.cli import main

sys.exit(main())
