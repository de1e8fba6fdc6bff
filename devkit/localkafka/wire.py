"""Readiness checks of a starting broker: a raw Metadata request, then a real admin client."""

from __future__ import annotations

import socket
import struct


def _probe(bootstrap: str, timeout_ms: int) -> None:
    """Raise unless kafka-python completes describe-cluster and list-topics."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap,
        client_id="localkafka-probe",
        request_timeout_ms=timeout_ms,
        bootstrap_timeout_ms=timeout_ms,
    )
    try:
        admin.describe_cluster()
        admin.list_topics()
    finally:
        admin.close()


def _kafka_request(
    sock: socket.socket, api_key: int, version: int, corr: int, body: bytes
) -> bytes:
    """Send one request (header v1, client id "localkafka") and return the response body."""
    client_id = b"localkafka"
    header = struct.pack(">hhih", api_key, version, corr, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)

    def read(n: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            chunk = sock.recv(n - len(chunks))
            if not chunk:
                raise ConnectionError("broker closed the connection")
            chunks += chunk
        return bytes(chunks)

    (size,) = struct.unpack(">i", read(4))
    response = read(size)
    (got_corr,) = struct.unpack_from(">i", response)
    if got_corr != corr:
        raise ConnectionError(f"correlation id {got_corr} != {corr}")
    return response[4:]


def _raw_metadata_brokers(port: int, timeout: float) -> int:
    """Return how many brokers a Metadata v4 request on ``port`` reports.

    Uses a plain socket (ApiVersions v0, then Metadata v4 for no topics; both
    exist in Kafka 3.x and 4.x) so a broker that is not ready yet costs no
    client threads; kafka-python's admin client leaks its I/O thread when its
    constructor cannot bootstrap.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        versions = _kafka_request(sock, api_key=18, version=0, corr=1, body=b"")
        (error_code,) = struct.unpack_from(">h", versions)
        if error_code != 0:
            raise ConnectionError(f"ApiVersions error code {error_code}")
        # topics: empty array, allow_auto_topic_creation: false
        metadata = _kafka_request(sock, api_key=3, version=4, corr=2, body=struct.pack(">ib", 0, 0))
        _throttle_ms, brokers = struct.unpack_from(">ii", metadata)
        return int(brokers)
