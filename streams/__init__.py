"""The streaming application: worker, command line, Kafka clients, replay."""

import os

# The probe decoder's small float products (schemas/fastprobe.py) go through
# OpenBLAS, whose helper threads spin between calls: on a two-core machine one
# of them took 0.6-0.75 of a core from the worker and the broker beside it
# (bench/bench_stream.py). Must be set before numpy is first imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
