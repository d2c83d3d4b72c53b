"""An MCP server the gateway fronts, as the config describes it, in neutral form."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

HTTP = "streamable-http"
SSE = "sse"
STDIO = "stdio"


@dataclass(slots=True, frozen=True)
class McpServer:
    name: str
    transport: str  # HTTP, SSE or STDIO
    url: str = ""  # HTTP and SSE: the server's endpoint (the SSE stream's, for SSE)
    command: str = ""  # STDIO: the program, its arguments, environment and directory
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # upstream credentials
    tools: tuple[str, ...] | None = None  # the allow-list; None: every tool
    timeout: float = 600.0  # seconds an upstream answer may take
    max_processes: int = 16  # STDIO: concurrent sessions (processes)
    idle_timeout: float = 600.0  # STDIO: seconds a session may sit unused

    @property
    def label(self) -> str:
        """As the ledger's `upstream` column names it."""
        return f"mcp/{self.name}"

    def allows_tool(self, tool: str) -> bool:
        return self.tools is None or tool in self.tools
