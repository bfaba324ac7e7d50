"""Load and fault tests that run long with ``pytest --stress`` and briefly in CI."""
