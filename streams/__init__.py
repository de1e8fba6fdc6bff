"""The worker runtime: the Faust app, its stages and probe loop, the Kafka topics and settings."""
