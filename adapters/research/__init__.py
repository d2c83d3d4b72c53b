"""Research: the gateway's own agent (`agent.py`); upstream research models are answered by their
providers (`providers/perplexity.py`, and `research` of `providers/openai.py`)."""
