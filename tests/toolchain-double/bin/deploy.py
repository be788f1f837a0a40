#!/usr/bin/python3
# Kiln toolchain double: imitates `deploy.py` for tests (see ../README.md).
# Never a real toolchain: everything it writes is marked simulated.
import os
import sys
sys.dont_write_bytecode = True  # keep the tree clean
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "..", "lib"))
from kiln_double.voyager import deploy_main  # noqa: E402
sys.exit(deploy_main())
