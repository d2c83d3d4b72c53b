"""One codec per wire dialect; `CODECS` lists them in the order the dialect layer tries them."""

from interlingua.adapters.dialects.anthropic import CODEC as ANTHROPIC
from interlingua.adapters.dialects.base import ClientDialect
from interlingua.adapters.dialects.gemini import CODEC as GEMINI
from interlingua.adapters.dialects.mcp import CODEC as MCP
from interlingua.adapters.dialects.openai_chat import CODEC as OPENAI_CHAT
from interlingua.adapters.dialects.openai_completions import CODEC as OPENAI_COMPLETIONS
from interlingua.adapters.dialects.openai_responses import CODEC as OPENAI_RESPONSES
from interlingua.adapters.dialects.utility import CODEC as UTILITY

# Anthropic first: it claims `/v1/models` only when the request carries `anthropic-version`. The
# legacy Completions last: its one path is the rarest.
CODECS: tuple[ClientDialect, ...] = (ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, GEMINI, UTILITY, MCP,
                                     OPENAI_COMPLETIONS)
