#!/bin/bash
# Formats the broker's storage on first start, with the SCRAM-SHA-512
# credential of $SCRAM_USERNAME read from the kafka_sasl_password secret,
# then runs the broker. Later starts keep the formatted storage (and any
# credential changed since with kafka-configs.sh, see docs/operations.md).
set -euo pipefail
conf=/opt/availability/kafka/server.properties
if [ ! -f /var/lib/kafka/data/meta.properties ]; then
  password="$(cat /run/secrets/kafka_sasl_password)"
  /opt/kafka/bin/kafka-storage.sh format --config "$conf" --cluster-id "$CLUSTER_ID" \
    --add-scram "SCRAM-SHA-512=[name=${SCRAM_USERNAME},password=${password}]"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$conf"
