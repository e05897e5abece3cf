"""Data quality and conformance assessment in the manner of GB/T 32960.4-2025 (spec §10).

`records` reads real-time records out of a capture, a platform store or frames; `assess` measures
null/abnormal/out-of-range rates, presence, timing and physical consistency; `reference` compares
with reference data (Annex A.2 style); `thresholds` holds our documented default limits; `report`
writes JSON and HTML; `synth` renders generated fleets with known injected defects.
"""
