"""Everything a run leaves for people: the results folder, terminal tables, the HTML report, allure and
JUnit extras, the phase-marked capture copy, and the evidence bundle that seals it all.

Imports only `phonehome.policy` and `phonehome.traffic` (DESIGN.md: report -> policy, traffic); the
bench, handset and scenario reach it through plain records and files.
"""

from __future__ import annotations
