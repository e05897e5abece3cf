"""Verdicts, evidence and reports (JSON, JUnit, HTML) of a conformance run.

- `model`: the result model, the contract with the pytest plugin (`RunResult.to_dict()` is results.json)
- `json_report`: write/validate/load results.json against `schema/results.schema.json` (draft 2020-12)
- `junit`: junit.xml for CI; `html`: the PCTR-style HTML report, one run or several SUTs side by side
- `evidence`: per-frame evidence, pcap (synthetic TCP on 127.0.0.1) and the decoded, annotated log
- `writer.write_all`: everything above into one report folder; `cli`: `gbt32960 report html|merge|junit`
"""
