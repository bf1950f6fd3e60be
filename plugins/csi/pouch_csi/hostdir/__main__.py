"""``python -m pouch_csi.hostdir``: the same as ``pouch-csi-hostdir``."""

import sys

from pouch_csi.hostdir import main

sys.exit(main())
