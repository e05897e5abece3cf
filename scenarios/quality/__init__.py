"""GB/T 32960.4-2025 data quality and conformance (spec §10) with a terminal as the SUT."""
