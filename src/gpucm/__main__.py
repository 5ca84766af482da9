import sys

from gpucm.cli.main import main

sys.exit(main())
