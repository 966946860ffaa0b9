"""Example apps built on flash_ws (run them from the repository root)."""
