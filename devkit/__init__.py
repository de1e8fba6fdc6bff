"""The development kit: the local Kafka broker, the event simulator and the demo."""
