#!/bin/sh
# env-from-files NAME=FILE... -- COMMAND [ARG...]
# Exports each NAME with the content of FILE (a compose secret), then runs
# COMMAND in its place. For images that read a password only from an
# environment variable, so no password is written in the compose file.
set -eu
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  name="${1%%=*}"
  value="$(cat "${1#*=}")"
  export "$name=$value"
  shift
done
[ "$#" -gt 0 ] && shift
exec "$@"
