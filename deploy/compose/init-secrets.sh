#!/bin/sh
# Writes the compose secrets that are missing, each a random password in its
# own file, into DIR (default: the secrets/ folder beside this script, which
# git ignores). Existing files are kept: to rotate one, see
# docs/operations.md. DIR is mode 700, so no other user of the host can reach
# the files; the files themselves are mode 644 because compose bind-mounts
# them as they are and the containers read them as non-root users.
#   usage: deploy/compose/init-secrets.sh [DIR]
set -eu
dir="${1:-$(dirname "$0")/secrets}"
mkdir -p "$dir"
chmod 700 "$dir"
for name in clickhouse_password clickhouse_grafana_password kafka_sasl_password grafana_admin_password; do
  file="$dir/$name"
  if [ ! -s "$file" ]; then
    # Letters and digits only: the value goes into Kafka's SCRAM syntax and URLs.
    head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32 >"$file"
    chmod 644 "$file"
    echo "wrote $file" >&2
  fi
done
