"""The MCP proxy's adapters: upstream servers (Streamable HTTP, legacy SSE, stdio), JSON-RPC peeking,
session ids bound to the gateway key that opened them."""
