"""Fake upstream servers that speak real wire formats over real sockets, for the gateway's tests."""
