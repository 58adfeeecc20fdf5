# SPDX-License-Identifier: Apache-2.0
import sys

from kube_emulator.server import main

sys.exit(main())
