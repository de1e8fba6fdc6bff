"""The streaming application: worker, command line, Kafka clients, replay."""
