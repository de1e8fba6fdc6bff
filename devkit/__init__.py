"""The development kit: the local Kafka broker, the event simulator and the demo.

It is not in the wheel: it runs from a source checkout (``./dev demo``,
``./dev generate``, ``python -m devkit.localkafka``), and nothing shipped
imports it.
"""
