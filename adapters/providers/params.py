"""Request fields an upstream cannot take: refused with a 400 that names them, never dropped.

A client that asks for three candidates, log probabilities or a fixed seed and silently gets one
candidate, none, or a random answer has been lied to; a 400 naming the field tells it at once what
to leave out. This holds for translated requests only: a same-dialect upstream gets the client's
body as sent and answers for itself. Fields that are emulated instead (stop sequences,
`stops.py`) or translated (everything else) are in the README's parameter table, which is written
from this module and the request encoders.

Each rule is keyed by the upstream's dialect (its codec name: openai, responses, anthropic,
gemini) and says how the client named the field, since a 400 must name the client's own field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f

# A field of the IR an upstream dialect has no slot for: (test, upstream dialects that refuse it).
_Test = Callable[[ir.ChatRequest], bool]
_NEUTRAL: dict[str, tuple[_Test, frozenset[str]]] = {
    "seed": (lambda r: r.seed is not None, frozenset({"responses", "anthropic"})),
    # Anthropic's API has no log probabilities; the other three word them each its own way
    # (`dialects/logprobs.py`).
    "logprobs": (lambda r: bool(r.logprobs), frozenset({"anthropic"})),
    "top_logprobs": (lambda r: bool(r.top_logprobs), frozenset({"anthropic"})),
    "presence_penalty": (lambda r: bool(r.presence_penalty), frozenset({"responses", "anthropic"})),
    "frequency_penalty": (lambda r: bool(r.frequency_penalty), frozenset({"responses", "anthropic"})),
}

# How each client dialect spells the neutral fields above (and `stop`, which `stops.py` emulates),
# where it differs from the IR's name.
_SPELLING: dict[str, dict[str, str]] = {
    "anthropic": {"parallel_tool_calls": "tool_choice.disable_parallel_tool_use", "stop": "stop_sequences"},
    "responses": {"logprobs": "include"},
    "gemini": {"n": "generationConfig.candidateCount", "seed": "generationConfig.seed",
               "stop": "generationConfig.stopSequences",
               "logprobs": "generationConfig.responseLogprobs", "top_logprobs": "generationConfig.logprobs",
               "presence_penalty": "generationConfig.presencePenalty",
               "frequency_penalty": "generationConfig.frequencyPenalty"},
}

# Fields of a client dialect with no neutral slot that change the answer, so no other upstream may
# go without them. (Hints that do not, such as `store`, `prompt_cache_key` or `service_tier`, are
# the gateway's or the client's business and are not sent; the README lists them.)
_OWN: dict[str, tuple[str, ...]] = {
    "openai": ("logit_bias", "audio", "prediction"),
    "anthropic": ("mcp_servers", "container"),
    "responses": ("prompt", "background", "max_tool_calls"),
    "gemini": ("cachedContent", "cached_content", "safetySettings", "safety_settings"),
}

# Fields of the legacy Completions API (`dialects/openai_completions.py`) that a chat turn has no
# slot for, where they change the answer (`echo: false` does not).
_COMPLETIONS_ONLY: dict[str, Callable[[Any], bool]] = {
    "suffix": bool,
    "echo": lambda value: value is True,
    "best_of": lambda value: isinstance(value, int) and value > 1,
    "logit_bias": bool,
    "logprobs": lambda value: value is not None,  # in the legacy API's own words, which no chat answer has
}

# Fields of a client dialect that steer the client's account or the gateway, not the answer: not
# sent to another dialect's upstream. Any other field the gateway does not know is refused, since
# it cannot tell what leaving it out would change.
_HINTS: dict[str, frozenset[str]] = {
    "openai": frozenset({"store", "service_tier", "prompt_cache_key", "prompt_cache_retention", "safety_identifier",
                         "modalities"}),  # modalities beyond text are refused above
    "responses": frozenset({"store", "previous_response_id", "conversation", "include", "prompt_cache_key",
                            "prompt_cache_retention", "service_tier", "client_metadata", "stream_options"}),
    "anthropic": frozenset({"service_tier", "cache_control"}),
    "gemini": frozenset({"gemini_mode"}),  # the gateway's own note of VALIDATED tool calling
}

# Gemini's generationConfig fields the IR has no slot for, that change the answer.
_GEMINI_CONFIG = ("speechConfig", "imageConfig", "audioTranscriptionConfig")


def refuse_unsupported(request: ir.ChatRequest, upstream: str) -> None:
    """Raise a 400 naming the first field of `request` that an `upstream` dialect cannot take."""
    for name, (used, refusing) in _NEUTRAL.items():
        if upstream in refusing and used(request):
            raise _refused(spelled(request.dialect, name), upstream)
    native: Mapping[str, Any] = request.native or {}
    for name in _OWN.get(request.dialect, ()):
        if native.get(name) is not None:
            raise _refused(name, upstream)
    if request.dialect == "completions":
        _completions_only(native, upstream)
    if request.dialect == "openai" and _beyond_text(native.get("modalities"), "text"):
        raise _refused("modalities", upstream)
    if request.dialect == "gemini":
        key = "generationConfig" if "generationConfig" in native else "generation_config"
        config = native.get(key) or {}
        for name in _GEMINI_CONFIG:
            given = next((s for s in (name, f.snake(name)) if config.get(s) is not None), None)
            if given:
                raise _refused(f"{key}.{given}", upstream)
        modalities = config.get("responseModalities", config.get("response_modalities"))
        if _beyond_text(modalities, "TEXT"):
            raise _refused(f"{key}.responseModalities", upstream)
    hints = _HINTS.get(request.dialect, frozenset())
    unknown = next((name for name in request.extra if name not in hints), None)
    if unknown is not None:
        raise _retryable(ir.invalid(unknown, "not supported: the gateway does not know this parameter, so it cannot "
                                             f"carry it to {_UPSTREAMS.get(upstream, 'this')} upstream"))


def _completions_only(native: Mapping[str, Any], upstream: str) -> None:
    prompt = native.get("prompt")
    if not (isinstance(prompt, str) or isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str)):
        raise _retryable(ir.invalid("prompt", f"must be one text prompt: {_UPSTREAMS.get(upstream, 'this')} upstream "
                                              "is asked it as a chat turn (several prompts, or tokens, need an "
                                              "upstream with the Completions endpoint)"))
    for name, used in _COMPLETIONS_ONLY.items():
        if used(native.get(name)):
            raise _refused(name, upstream)
    if native.get("max_tokens") == 0:  # an echo of the prompt alone: nothing a chat turn can answer
        raise _retryable(ir.invalid("max_tokens", f"must be at least 1: {_UPSTREAMS.get(upstream, 'this')} upstream "
                                                  "is asked it as a chat turn"))


def _beyond_text(modalities: Any, text: str) -> bool:
    """Whether a modalities list asks for more than text (audio, images)."""
    return isinstance(modalities, list) and any(m != text for m in modalities)


_UPSTREAMS = {"openai": "an OpenAI Chat", "responses": "an OpenAI Responses", "anthropic": "an Anthropic",
              "gemini": "a Gemini"}


def spelled(dialect: str, name: str) -> str:
    """How a client of `dialect` names the IR's field `name`, for a 400 that names its own field."""
    return _SPELLING.get(dialect, {}).get(name, name)


def _refused(field: str, upstream: str) -> ir.GatewayError:
    """The 400 for one target; retryable, since the next target of an alias may well take the field."""
    kind = _UPSTREAMS.get(upstream, f"a {upstream}")
    return _retryable(ir.invalid(field, f"not supported: this model is served by {kind} upstream, "
                                        "which has no such parameter"))


def _retryable(error: ir.GatewayError) -> ir.GatewayError:
    error.retryable = True
    return error
