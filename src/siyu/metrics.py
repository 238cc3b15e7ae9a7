"""Prometheus metrics (served at ``/metrics``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_ACCEPTED = Counter("siyu_events_accepted_total", "Events accepted by the tracking API", ["channel"])
EVENTS_REJECTED = Counter("siyu_events_rejected_total", "Messages rejected by the tracking API", ["code"])
REQUESTS_REFUSED = Counter(
    "siyu_tracking_requests_refused_total", "Tracking requests refused as a whole", ["code"]
)
EVENTS_STORED = Counter("siyu_events_stored_total", "Events written to the event store by workers")
EVENTS_DEDUPLICATED = Counter(
    "siyu_events_deduplicated_total", "Events dropped as duplicates of a (source, messageId) already stored"
)
WORKER_BATCHES = Counter("siyu_worker_batches_total", "Batches written by workers", ["outcome"])
BUS_DEPTH = Gauge("siyu_bus_depth", "Messages waiting on the bus per consumer group", ["group"])
REQUEST_SECONDS = Histogram(
    "siyu_tracking_request_seconds",
    "Tracking API request latency",
    ["endpoint"],
    buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

IDENTITY_EVENTS = Counter("siyu_identity_events_resolved_total", "Events resolved to persons by identity workers")
IDENTITY_MERGES = Counter("siyu_identity_merges_total", "Automatic merges made by identity resolution")
IDENTITY_LINKS = Counter("siyu_identity_links_synced_total", "Identity links copied to the event store")

OUTBOX_PUBLISHED = Counter("siyu_outbox_published_total", "Domain events published from the outbox to the bus")
ORDERS = Counter("siyu_orders_total", "Order state changes", ["to"])

# Families counted by the worker (reported by the process that runs it).
WORKER_METRICS = frozenset({b"siyu_events_stored", b"siyu_events_deduplicated", b"siyu_worker_batches",
                            b"siyu_identity_events_resolved", b"siyu_identity_merges", b"siyu_identity_links_synced",
                            b"siyu_outbox_published"})
