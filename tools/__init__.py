"""Operator tools and the reference billing consumer.

Producing events (``produce``), incidents and claims as people declare them
(``operator``), contracts applied from files (``contracts``), the HTTP prober
(``prober``) and the billing consumer that reads the statements (``billing``).
"""
