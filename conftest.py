"""Root pytest configuration: the harness plugin registers itself through the pytest11 entry point."""
