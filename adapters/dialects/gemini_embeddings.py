"""Gemini's `:embedContent` and `:batchEmbedContents`, both directions; the Gemini codec routes
those operations here. Task types and `outputDimensionality` are kept."""

from __future__ import annotations

from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f


def _text(content: Any, path: str) -> str:
    content = f.obj(content, path)
    parts = f.array(content, "parts", path + ".", required=True) or []
    return "".join(f.string(f.obj(p, f"{path}.parts[{i}]"), "text", f"{path}.parts[{i}].") or ""
                   for i, p in enumerate(parts))


def decode_embed_request(body: Any, model: str, batch: bool, dialect: str) -> ir.EmbeddingRequest:
    body = f.obj(body, "body")
    entries = f.array(body, "requests", required=True) if batch else [body]
    texts = [_text(f.req(f.obj(e, f"requests[{i}]" if batch else "body"), "content",
                         f"requests[{i}]." if batch else ""), f"requests[{i}].content" if batch else "content")
             for i, e in enumerate(entries or ())]
    first, path = (entries[0], "requests[0].") if batch else (body, "")
    return ir.EmbeddingRequest(
        model=model, inputs=texts, dialect=dialect, native=body,
        dimensions=f.integer(first, f.spelled(first, "outputDimensionality"), path, minimum=1),
        task_type=f.string(first, f.spelled(first, "taskType"), path),
        extra={"batch": batch})


def encode_embed_response(resp: ir.EmbeddingResponse, request: ir.EmbeddingRequest | None) -> dict[str, Any]:
    if request is not None and not request.extra.get("batch"):
        return {"embedding": {"values": resp.vectors[0] if resp.vectors else []}}
    return {"embeddings": [{"values": v} for v in resp.vectors]}


def encode_batch_request(req: ir.EmbeddingRequest, model: str) -> dict[str, Any]:
    def one(text: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"model": f"models/{model}", "content": {"parts": [{"text": text}]}}
        if req.task_type:
            entry["taskType"] = req.task_type
        if req.dimensions:
            entry["outputDimensionality"] = req.dimensions
        return entry

    if req.inputs and not isinstance(req.inputs[0], str):
        raise ir.invalid("input", "token arrays cannot be embedded by a Gemini model; send text")
    return {"requests": [one(t) for t in req.inputs]}  # type: ignore[arg-type]  # token arrays were refused above: all texts


def decode_batch_response(body: Any, model: str) -> ir.EmbeddingResponse:
    body = f.obj(body, "response")
    entries = f.array(body, "embeddings") or ()
    return ir.EmbeddingResponse(model=model, vectors=[
        f.numbers(f.obj(e, f"embeddings[{i}]").get("values") or [], f"embeddings[{i}].values")
        for i, e in enumerate(entries)])
