"""How every Kafka client of the project connects: plaintext, TLS, or SASL over TLS.

One place reads the settings, from the environment (a deployment sets them
in an env file or a Kubernetes Secret), and turns them into the options of
each client library the project uses: Faust's credentials for the worker,
kafka-python's keyword arguments for the producers, admin and lag clients,
aiokafka's for the benchmark.

=============================  =================================================
``KAFKA_SECURITY_PROTOCOL``    ``PLAINTEXT`` (default), ``SSL``,
                               ``SASL_PLAINTEXT`` or ``SASL_SSL``
``KAFKA_SASL_MECHANISM``       ``SCRAM-SHA-512`` (default with SASL),
                               ``SCRAM-SHA-256`` or ``PLAIN``
``KAFKA_SASL_USERNAME``        the SASL user
``KAFKA_SASL_PASSWORD_FILE``   a file holding the password (preferred: the
                               password never sits in the environment)
``KAFKA_SASL_PASSWORD``        the password itself, when no file is given
``KAFKA_SSL_CAFILE``           PEM bundle of the CA that signed the brokers'
                               certificates (default: the system's)
=============================  =================================================

The password is never part of a ``repr`` or a log line.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinks.secrets import SecretError, read_secret

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


class KafkaSettingsError(ValueError):
    """The Kafka connection settings are incomplete or contradictory."""


@dataclass(frozen=True)
class KafkaSecurity:
    """Connection security of every Kafka client (see the module docstring)."""

    protocol: str = "PLAINTEXT"
    mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise KafkaSettingsError(
                f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(PROTOCOLS)}, "
                f"not {self.protocol!r}"
            )
        if self.sasl:
            if self.mechanism not in MECHANISMS:
                raise KafkaSettingsError(
                    f"KAFKA_SASL_MECHANISM must be one of {', '.join(MECHANISMS)}, "
                    f"not {self.mechanism!r}"
                )
            if not self.username or not self.password:
                raise KafkaSettingsError(
                    f"{self.protocol} needs KAFKA_SASL_USERNAME and a password "
                    "(KAFKA_SASL_PASSWORD_FILE or KAFKA_SASL_PASSWORD)"
                )
        if self.cafile is not None and not Path(self.cafile).is_file():
            raise KafkaSettingsError(f"KAFKA_SSL_CAFILE {self.cafile!r} is not a file")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaSecurity:
        """Read the ``KAFKA_*`` settings (``os.environ`` by default)."""
        env = os.environ if env is None else env
        protocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").strip().upper()
        try:
            password = read_secret("KAFKA_SASL_PASSWORD", env)
        except SecretError as exc:
            raise KafkaSettingsError(str(exc)) from None
        sasl = protocol.startswith("SASL_")
        return cls(
            protocol=protocol,
            mechanism=env.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").strip().upper()
            if sasl
            else None,
            username=env.get("KAFKA_SASL_USERNAME") or None,
            password=password,
            cafile=env.get("KAFKA_SSL_CAFILE") or None,
        )

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying client context (hostname checked) for TLS protocols."""
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.cafile)

    def kafka_python(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's producer, consumer and admin client."""
        if self.protocol == "PLAINTEXT":
            return {}
        opts: dict[str, Any] = {"security_protocol": self.protocol}
        if self.tls:
            opts["ssl_context"] = self.ssl_context()
        if self.sasl:
            opts["sasl_mechanism"] = self.mechanism
            opts["sasl_plain_username"] = self.username
            opts["sasl_plain_password"] = self.password
        return opts

    def aiokafka(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's clients (same names as kafka-python's)."""
        return self.kafka_python()
