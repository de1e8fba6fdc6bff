"""Reports for people: the monthly SLA report, its explanations, support, finance CSV.

The monthly report of a contract (``month``: table, JSON, CSV; ``html``), what
it says in words (``explain``), first-response compliance (``support``), the
flat CSV exports finance reads (``finance_csv``), and the plain-text tables
the command line prints too (``text``). Pure functions of outputs
(statements, claim decisions, support records): no Kafka, no store.
"""
