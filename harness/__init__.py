"""Conformance test harness and reference toolkit for GB/T 32960 and GB/T 27930."""

__version__ = "0.1.0"
