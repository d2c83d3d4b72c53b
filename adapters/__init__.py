"""Interlingua's lowest layer: the IR, the wire codecs, the upstream providers and backends."""
