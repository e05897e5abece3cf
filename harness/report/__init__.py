"""Verdicts, evidence and reports (JSON, JUnit, HTML) of a conformance run."""
