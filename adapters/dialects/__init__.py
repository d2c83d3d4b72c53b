"""One codec per wire dialect; `CODECS` lists them in the order the dialect layer tries them."""

from adapters.dialects.anthropic import CODEC as ANTHROPIC
from adapters.dialects.base import Codec
from adapters.dialects.gemini import CODEC as GEMINI
from adapters.dialects.openai_chat import CODEC as OPENAI_CHAT
from adapters.dialects.openai_responses import CODEC as OPENAI_RESPONSES
from adapters.dialects.utility import CODEC as UTILITY

# Anthropic first: it claims `/v1/models` only when the request carries `anthropic-version`.
CODECS: tuple[Codec, ...] = (ANTHROPIC, OPENAI_CHAT, OPENAI_RESPONSES, GEMINI, UTILITY)
