"""End-to-end tests import their harness by module name (pytest puts this directory on sys.path)."""
