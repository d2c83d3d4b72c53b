"""One codec per wire dialect; `CODECS` lists them in the order the dialect layer tries them."""

from adapters.dialects.base import Codec
from adapters.dialects.openai_chat import CODEC as OPENAI_CHAT

CODECS: tuple[Codec, ...] = (OPENAI_CHAT,)
BY_NAME: dict[str, Codec] = {c.name: c for c in CODECS}
