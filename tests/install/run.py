#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""ctest entry point: run.py MODULE [--need TOOL]... -> unittest of tests/install/MODULE.py.
Exits 77 (ctest SKIP_RETURN_CODE) when a prerequisite is missing (PyYAML, a tool), so a machine
without it reports the test as skipped instead of failed."""
import os
import shutil
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
sys.dont_write_bytecode = True

args = sys.argv[1:]
module = args[0]
need = [args[i + 1] for i, a in enumerate(args) if a == "--need"]
try:
    import yaml  # noqa: F401
except ImportError:
    print("SKIP: PyYAML (python3-yaml) is not installed")
    sys.exit(77)
for tool in need:
    if not shutil.which(tool):
        print("SKIP: %s is not installed" % tool)
        sys.exit(77)
suite = unittest.defaultTestLoader.loadTestsFromName(module)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
sys.exit(0 if result.wasSuccessful() else 1)
