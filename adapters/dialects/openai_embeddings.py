"""OpenAI's `/v1/embeddings`, both directions; the OpenAI codec routes that operation here.

`input` may be a string, a list of strings, or token ids (one list, or a list of lists);
`encoding_format` float or base64 (little-endian float32, as OpenAI encodes it).
"""

from __future__ import annotations

import base64
from array import array
from typing import Any

from interlingua.adapters import ir
from interlingua.adapters.dialects import fields as f

_FIELDS = frozenset({"model", "input", "encoding_format", "dimensions", "user"})


def _inputs(raw: Any) -> list[str] | list[list[int]]:
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not raw:
        raise ir.invalid("input", "must be a string, a non-empty array of strings, or token arrays")
    if all(isinstance(x, str) for x in raw):
        return raw
    if all(isinstance(x, int) and not isinstance(x, bool) for x in raw):
        return [raw]
    if all(isinstance(x, list) and x and all(isinstance(t, int) and not isinstance(t, bool) for t in x) for x in raw):
        return raw
    raise ir.invalid("input", "must be a string, a non-empty array of strings, or token arrays")


def decode_embedding_request(body: Any, dialect: str) -> ir.EmbeddingRequest:
    body = f.obj(body, "body")
    fmt = f.choice(body, "encoding_format", ("float", "base64")) or "float"
    return ir.EmbeddingRequest(
        model=f.string(body, "model", required=True),
        inputs=_inputs(body.get("input")),
        dialect=dialect,
        native=body,
        dimensions=f.integer(body, "dimensions", minimum=1),
        encoding_format=fmt,  # type: ignore[arg-type]  # a str checked against the Literal's values
        user=f.string(body, "user"),
        extra=f.rest(body, _FIELDS) or {},
    )


def vector_base64(vector: list[float]) -> str:
    return base64.b64encode(array("f", vector).tobytes()).decode()


def encode_embedding_response(resp: ir.EmbeddingResponse, request: ir.EmbeddingRequest | None) -> dict[str, Any]:
    as_base64 = request is not None and request.encoding_format == "base64"
    data = [{"object": "embedding", "index": i, "embedding": vector_base64(v) if as_base64 else v}
            for i, v in enumerate(resp.vectors)]
    tokens = resp.usage.input_tokens if resp.usage else 0
    return {"object": "list", "data": data, "model": resp.model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def encode_embedding_request(req: ir.EmbeddingRequest, model: str) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": req.inputs, "encoding_format": "float"}
    if req.dimensions is not None:
        body["dimensions"] = req.dimensions
    if req.user:
        body["user"] = req.user
    return body


def _vector(value: Any, path: str) -> list[float]:
    """An embedding as floats or as base64 of little-endian float32s (`encoding_format`)."""
    if isinstance(value, str):
        packed = base64.b64decode(value, validate=True)
        if len(packed) % 4:
            raise ir.invalid(path, "must hold whole float32s")
        return array("f", packed).tolist()
    return f.numbers(value, path)


def decode_embedding_response(body: Any) -> ir.EmbeddingResponse:
    body = f.obj(body, "response")
    rows = [f.obj(row, f"data[{i}]") for i, row in enumerate(f.array(body, "data") or ())]
    if any("index" in row for row in rows):  # else in the order they came, as a server without them means
        if {f.integer(row, "index", f"data[{i}].") for i, row in enumerate(rows)} != set(range(len(rows))):
            raise ir.invalid("data", "must number its embeddings 0, 1, 2... with `index`")
        rows.sort(key=lambda row: row["index"])
    vectors = [_vector(row.get("embedding"), f"data[{i}].embedding") for i, row in enumerate(rows)]
    return ir.EmbeddingResponse(model=f.label(body, "model") or "", vectors=vectors,
                                usage=ir.Usage(input_tokens=f.count(f.sub(body, "usage"), "prompt_tokens")))
