import sys

from bucketguard.cli import main

sys.exit(main())
