# SPDX-License-Identifier: Apache-2.0
"""A Kubernetes API server emulator for tests (see README.md)."""
