"""Valid requests for every endpoint of the README's table, the seeds `tests/fuzz.py` breaks.

Chat-like seeds go to a model of each upstream dialect (and an alias), so that translation is
fuzzed as well as pass-through; real clients' requests (tests/fixtures/clients) are among them.
`ENDPOINTS` gives each endpoint its seeds and how many broken requests the suite sends it.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson

from interlingua.adapters.dialects.gemini_request import SKIP_SIGNATURE
from tests.fuzz import FormPart, Seed

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "clients"
CHAT_MODELS = ("oa/gpt-x", "an/claude-x", "gm/gemini-2.5-flash", "gm/gemini-3-pro", "rs/gpt-5", "fast")
GENERATE_VERBS = (("generateContent", ""), ("streamGenerateContent", "alt=sse"))  # whole, streamed
LOGPROB_MODELS = ("oa/gpt-x", "gm/gemini-2.5-flash", "rs/gpt-5")  # every upstream dialect with log probabilities
EMBEDDING_MODELS = ("oa/text-embedding-3-small", "gm/gemini-embedding-001", "local/all-minilm-l6-v2")
IMAGE_MODELS = ("oa/gpt-image-1", "oa/dall-e-3", "gm/gemini-2.5-flash-image")
WAV = b"RIFF\x24\x00\x01\x00WAVEfmt " + bytes(range(256)) * 8
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PNG_B64 = base64.b64encode(PNG).decode()
PNG_URL = "data:image/png;base64," + PNG_B64
MARKDOWN = b"# Title\n\nA first paragraph.\n\n## Part\n\n- one\n- two\n"
STORED = "stored"  # stands for the id of a response the gateway stored, in paths and bodies
CONVERSATION = "CONVERSATION_ID"  # likewise, a conversation's
FILE = "FILE_ID"  # and a file's
BATCH_FILE = "BATCH_FILE_ID"  # and a batch input file's (one Chat Completions request)
VECTOR_STORE = "VECTOR_STORE_ID"  # and a vector store's, which holds the file
BATCH_LINE = {"custom_id": "r1", "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": "oa/gpt-x", "messages": [{"role": "user", "content": "hi"}]}}
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
USER_ITEM = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}
ANTHROPIC_VERSION = (("anthropic-version", "2023-06-01"),)
HOSTED = {  # a code execution tool, a fetch and a search, as each dialect declares them
    "anthropic": [{"type": "code_execution_20250825", "name": "code_execution"},
                  {"type": "web_fetch_20250910", "name": "web_fetch", "max_uses": 1},
                  {"type": "web_search_20250305", "name": "web_search"}],
    "responses": [{"type": "code_interpreter", "container": {"type": "auto"}}, {"type": "web_search"}],
    "gemini": [{"codeExecution": {}}, {"urlContext": {}}, {"googleSearch": {}}],
}
SEARCH_OPTIONS = {"search_context_size": "low", "user_location": {"type": "approximate", "approximate": {
    "city": "Bergen", "country": "NO"}}}  # Chat's web search, each upstream's own search tool


def replayed(name: str, models: tuple[str, ...]) -> list[Seed]:
    """A real client's request, once per model, in the body or the path as its dialect puts it."""
    raw = orjson.loads((FIXTURES / name).read_bytes())
    dialect = {"/v1/messages": "anthropic", "/v1/responses": "openai"}.get(raw["path"], "gemini")
    headers = tuple((k, v) for k, v in raw["headers"].items() if k in ("anthropic-beta", "accept"))
    seeds = []
    for model in models:
        body, path = dict(raw["body"]), raw["path"]
        if dialect == "gemini":
            path = path.replace("gemini-2.5-pro", model)
        else:
            body["model"] = model
        seeds.append(Seed("POST", path, dialect, body, headers=headers, query=raw["query"]))
    return seeds


def chat(model: str, **fields: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": {"q": {"type": "string"}, "n": {
        "anyOf": [{"type": "integer"}, {"type": "null"}]}}, "required": ["q"], "$defs": {"d": {"type": "string"}}}
    return {
        "model": model, "max_tokens": 50, "temperature": 0.5, "stop": ["END"], "user": "u1", "reasoning_effort": "low",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "What is this?"}, {
                "type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG_B64}", "detail": "low"}}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"q": "x"}'}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "a square"},
        ],
        "tools": [{"type": "function", "function": {"name": "look", "description": "Look", "parameters": schema}}],
        "tool_choice": "auto",
        "response_format": {"type": "json_schema", "json_schema": {"name": "r", "schema": {
            "type": "object", "properties": {"a": {"$ref": "#/$defs/d"}}, "$defs": {"d": {"type": "string"}}}}},
        **fields,
    }


def messages(model: str) -> dict[str, Any]:
    return {
        "model": model, "max_tokens": 2048, "system": [{"type": "text", "text": "Be brief."}],
        "metadata": {"user_id": "u1"}, "stop_sequences": ["END"],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Look"}, {
                "type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_B64}}]},
            {"role": "assistant", "content": [
                {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"q": "x"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                          "content": [{"type": "text", "text": "a square"}]}]},
        ],
        "tools": [{"name": "look", "description": "Look", "input_schema": {
            "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}],
        "tool_choice": {"type": "auto"},
    }


def responses(model: str) -> dict[str, Any]:
    return {
        "model": model, "instructions": "Be brief.", "max_output_tokens": 100, "store": True,
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Look"},
                                         {"type": "input_image", "image_url": f"data:image/png;base64,{PNG_B64}"}]},
            {"type": "function_call", "call_id": "call_1", "name": "look", "arguments": '{"q": "x"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "a square"},
        ],
        "tools": [{"type": "function", "name": "look", "parameters": {
            "type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}],
        "text": {"format": {"type": "json_schema", "name": "r", "schema": {"type": "object"}}},
        "reasoning": {"effort": "low"},
    }


def generate() -> dict[str, Any]:
    return {
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "contents": [
            {"role": "user", "parts": [{"text": "Look"}, {"inlineData": {"mimeType": "image/png", "data": PNG_B64}}]},
            {"role": "model", "parts": [{"functionCall": {"name": "look", "args": {"q": "x"}},
                                         "thoughtSignature": SKIP_SIGNATURE}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "look", "response": {"result": "a square"}}}]},
        ],
        "tools": [{"functionDeclarations": [{"name": "look", "parametersJsonSchema": {
            "type": "OBJECT", "properties": {"q": {"type": "STRING"}}, "required": ["q"]}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
        "generationConfig": {"temperature": 0.5, "maxOutputTokens": 100, "stopSequences": ["END"],
                             "thinkingConfig": {"thinkingBudget": 1024}, "responseMimeType": "application/json",
                             "responseSchema": {"type": "OBJECT", "properties": {"a": {"type": "STRING"}}}},
    }


def gemini(model: str, verb: str, body: Any, query: str = "") -> Seed:
    return Seed("POST", f"/v1beta/models/{model}:{verb}", "gemini", body, query=query)


def embed_one(model: str) -> dict[str, Any]:
    return {"content": {"parts": [{"text": "one text"}]}, "taskType": "RETRIEVAL_QUERY",
            "outputDimensionality": 384 if model.startswith("local/") else 3}


def embed_batch(model: str) -> dict[str, Any]:
    return {"requests": [{"model": f"models/{model}", "content": {"parts": [{"text": "a"}, {"text": "b"}]}},
                         {"model": f"models/{model}", "content": {"parts": [{"text": "c"}]}}]}


def embeddings() -> list[Seed]:
    inputs: tuple[Any, ...] = ("one text", ["a", "b"], [[1, 2, 3]])
    return [Seed("POST", "/v1/embeddings", "openai", {"model": m, "input": i, "dimensions": 384})
            for m in EMBEDDING_MODELS for i in inputs[:2 if m.startswith("gm/") else 3]]  # Gemini takes no tokens


def form(path: str, dialect: str, *parts: FormPart, headers: tuple[tuple[str, str], ...] = ()) -> Seed:
    return Seed("POST", path, dialect, form=parts, headers=headers)


def image_edits() -> list[Seed]:
    images: tuple[FormPart, ...] = (("image[]", ("a.png", "image/png", PNG)), ("image[]", ("b.png", "image/png", PNG)))
    mask: FormPart = ("mask", ("m.png", "image/png", PNG))
    return [form("/v1/images/edits", "openai", ("model", m), ("prompt", "merge"), *images, ("n", "1"), *extra)
            for m in IMAGE_MODELS for extra in ((), (mask,)) if not (m.startswith("gm/") and extra)]  # Gemini: no mask


ENDPOINTS: dict[str, tuple[int, list[Seed]]] = {
    "chat.completions": (350, [Seed("POST", "/v1/chat/completions", "openai", chat(m)) for m in CHAT_MODELS] + [
        Seed("POST", "/v1/chat/completions", "openai", chat("oa/gpt-x", stream=True,
                                                            stream_options={"include_usage": True}))]
        + [Seed("POST", "/v1/chat/completions", "openai", chat(m, stream=stream, logprobs=True, top_logprobs=2))
           for m in LOGPROB_MODELS for stream in (False, True)]
        + [Seed("POST", "/v1/chat/completions", "openai", {"model": m, "n": 2, "stream": stream, "messages": [
            {"role": "user", "content": "hi"}]}) for m in ("an/claude-x", "rs/gpt-5") for stream in (False, True)]
        + [Seed("POST", "/v1/chat/completions", "openai", {"model": m, "stream": stream, "messages": [
            {"role": "user", "content": "Weather?"}], "web_search_options": SEARCH_OPTIONS})
           for m in CHAT_MODELS for stream in (False, True)]),
    "messages": (350, [Seed("POST", "/v1/messages", "anthropic", messages(m)) for m in CHAT_MODELS]
                 + replayed("claude.tool-result-request.json", ("an/claude-x", "oa/gpt-x", "gm/gemini-2.5-flash"))
                 + [Seed("POST", "/v1/messages", "anthropic", {"model": m, "max_tokens": 50, "messages": [
                     {"role": "user", "content": [
                         {"type": "document", "title": "T", "context": "c", "citations": {"enabled": True},
                          "source": {"type": "text", "media_type": "text/plain", "data": "Some words."}},
                         {"type": "document", "source": {"type": "content", "content": [
                             {"type": "text", "text": "A chunk."}]}},
                         {"type": "search_result", "source": "https://x.example/a", "title": "A",
                          "content": [{"type": "text", "text": "A result."}]},
                         {"type": "text", "text": "What do they say?"}]}]}) for m in CHAT_MODELS]
                 + [Seed("POST", "/v1/messages", "anthropic", {
                     "model": "oa/gpt-x", "max_tokens": 50, "stream": stream,
                     "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [
                         {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
                         {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": [
                             {"type": "web_search_result", "url": "https://x.example/", "title": "X",
                              "encrypted_content": "", "page_age": None}]},
                         {"type": "text", "text": "Found."}]}, {"role": "user", "content": "more"}],
                     "tools": [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2,
                                "blocked_domains": ["x.example"]}]}) for stream in (False, True)]
                 + [Seed("POST", "/v1/messages", "anthropic", {  # hosted tools each upstream has in its words
                     "model": m, "max_tokens": 50, "stream": stream, "messages": [
                         {"role": "user", "content": "Run it and read https://x.example/"}],
                     "tools": HOSTED["anthropic"]}) for m in CHAT_MODELS for stream in (False, True)]),
    "messages.count_tokens": (175, [Seed("POST", "/v1/messages/count_tokens", "anthropic", messages(m))
                                    for m in CHAT_MODELS]),
    "responses": (350, [Seed("POST", "/v1/responses", "openai", responses(m)) for m in CHAT_MODELS]
                  + replayed("codex.tool-result-request.json", ("rs/gpt-5", "an/claude-x", "gm/gemini-2.5-flash"))
                  + [Seed("POST", "/v1/responses", "openai", {"model": "oa/gpt-x", "input": "hi",
                                                              "previous_response_id": STORED}),
                     Seed("POST", "/v1/responses", "openai", {"model": "an/claude-x", "input": "hi",
                                                              "background": True})]
                  + [Seed("POST", "/v1/responses", "openai", {
                      "model": "oa/gpt-x", "input": "hi", "stream": stream,
                      "include": ["web_search_call.action.sources"],
                      "tools": [{"type": "web_search", "filters": {"allowed_domains": ["python.org"]},
                                 "user_location": {"type": "approximate", "country": "GB"}}]})
                     for stream in (False, True)]
                  + [Seed("POST", "/v1/responses", "openai", {"model": m, "input": "hi", "stream": stream,
                                                              "top_logprobs": 2,
                                                              "include": ["message.output_text.logprobs"]})
                     for m in LOGPROB_MODELS for stream in (False, True)]
                  + [Seed("POST", "/v1/responses", "openai", {"model": m, "input": "Run it.", "stream": stream,
                                                              "tools": HOSTED["responses"]})
                     for m in CHAT_MODELS for stream in (False, True)]),
    "responses.input_tokens": (175, [Seed("POST", "/v1/responses/input_tokens", "openai", responses(m))
                                     for m in CHAT_MODELS]),
    "responses.compact": (100, [Seed("POST", "/v1/responses/compact", "openai", responses(m)) for m in CHAT_MODELS]),
    "responses.stored": (175, [Seed("GET", f"/v1/responses/{STORED}", "openai"),
                               Seed("GET", f"/v1/responses/{STORED}/input_items", "openai"),
                               Seed("DELETE", f"/v1/responses/{STORED}", "openai")]),
    "completions": (175, [
        *(Seed("POST", "/v1/completions", "openai", {"model": m, "prompt": "Once upon a time", "max_tokens": 8,
                                                    "stop": ["\n"], "stream": stream})
          for m in CHAT_MODELS for stream in (False, True)),
        Seed("POST", "/v1/completions", "openai", {"model": "oa/gpt-x", "prompt": ["a", "b"], "suffix": "z",
                                                   "echo": True, "n": 2})]),
    "chat.stored": (175, [
        *(Seed("POST", "/v1/chat/completions", "openai", {"model": m, "store": True, "metadata": {"topic": "x"},
                                                         "messages": [{"role": "user", "content": "hi"}],
                                                         "stream": stream})
          for m in ("oa/gpt-x", "an/claude-x") for stream in (False, True)),
        Seed("GET", "/v1/chat/completions", "openai", query="limit=2&order=desc&model=oa/gpt-x&metadata[topic]=x")]),
    "conversations": (175, [
        Seed("POST", "/v1/conversations", "openai", {"items": [USER_ITEM], "metadata": {"topic": "x"}}),
        Seed("POST", f"/v1/conversations/{CONVERSATION}", "openai", {"metadata": {"topic": "y"}}),
        Seed("POST", f"/v1/conversations/{CONVERSATION}/items", "openai", {"items": [USER_ITEM, {
            "type": "function_call_output", "call_id": "call_1", "output": "42"}]}),
        Seed("GET", f"/v1/conversations/{CONVERSATION}/items", "openai", query="limit=2&order=asc"),
        Seed("GET", f"/v1/conversations/{CONVERSATION}", "openai"),
        Seed("POST", "/v1/responses", "openai", {"model": "an/claude-x", "input": "hi",
                                                 "conversation": {"id": CONVERSATION}})]),
    "files": (175, [
        form("/v1/files", "openai", ("purpose", "user_data"), ("file", ("a.pdf", "application/pdf", PDF))),
        form("/v1/files", "openai", ("purpose", "assistants"), ("expires_after[anchor]", "created_at"),
             ("expires_after[seconds]", "3600"), ("file", ("notes.txt", "text/plain", MARKDOWN))),
        Seed("GET", "/v1/files", "openai", query="limit=2&order=asc&purpose=user_data"),
        Seed("POST", "/v1/uploads", "openai", {"bytes": 100, "filename": "a.pdf", "mime_type": "application/pdf",
                                               "purpose": "user_data",
                                               "expires_after": {"anchor": "created_at", "seconds": 3600}}),
        Seed("GET", f"/v1/files/{FILE}", "openai"), Seed("GET", f"/v1/files/{FILE}/content", "openai"),
        Seed("DELETE", f"/v1/files/{FILE}", "openai"),
        form("/v1/files", "anthropic", ("expires_in_seconds", "3600"), ("file", ("a.pdf", "application/pdf", PDF)),
             headers=ANTHROPIC_VERSION),
        Seed("GET", "/v1/files", "anthropic", query="limit=1", headers=ANTHROPIC_VERSION),
        Seed("GET", f"/v1/files/{FILE}", "anthropic", headers=ANTHROPIC_VERSION),
        Seed("POST", "/v1/messages", "anthropic", {"model": "oa/gpt-x", "max_tokens": 50, "messages": [{
            "role": "user", "content": [{"type": "document", "source": {"type": "file", "file_id": FILE}},
                                        {"type": "text", "text": "What is this?"}]}]}, headers=ANTHROPIC_VERSION),
        Seed("POST", "/upload/v1beta/files", "gemini", {"file": {"displayName": "a.txt", "mimeType": "text/plain"}},
             headers=(("x-goog-upload-protocol", "resumable"), ("x-goog-upload-command", "start"),
                      ("x-goog-upload-header-content-length", "5"))),
        Seed("GET", "/v1beta/files", "gemini", query="pageSize=2"),
        Seed("POST", "/v1beta/cachedContents", "gemini", {
            "model": "models/gm/gemini-2.5-flash", "displayName": "doc", "ttl": "600s",
            "contents": [{"role": "user", "parts": [{"text": "a long document"}]}],
            "systemInstruction": {"parts": [{"text": "Answer from the document."}]}}),
        Seed("GET", "/v1beta/cachedContents", "gemini", query="pageSize=2"),
        gemini("gm/gemini-2.5-flash", "generateContent", {"contents": [{"role": "user", "parts": [
            {"fileData": {"fileUri": f"http://gateway/v1beta/files/{FILE}", "mimeType": "application/pdf"}},
            {"text": "What is this?"}]}]}),
        Seed("POST", "/v1/chat/completions", "openai", {"model": "an/claude-x", "messages": [{
            "role": "user", "content": [{"type": "file", "file": {"file_id": FILE}},
                                        {"type": "text", "text": "What is this?"}]}]}),
        Seed("POST", "/v1/responses", "openai", {"model": "gm/gemini-2.5-flash", "input": [{
            "role": "user", "content": [{"type": "input_file", "file_id": FILE},
                                        {"type": "input_text", "text": "What is this?"}]}]})]),
    "vector_stores": (150, [
        Seed("POST", "/v1/vector_stores", "openai", {
            "name": "docs", "description": "d", "file_ids": [FILE], "metadata": {"team": "a"},
            "expires_after": {"anchor": "last_active_at", "days": 7},
            "chunking_strategy": {"type": "static", "static": {"max_chunk_size_tokens": 200,
                                                               "chunk_overlap_tokens": 50}}}),
        Seed("GET", "/v1/vector_stores", "openai", query="limit=2&order=asc"),
        Seed("GET", f"/v1/vector_stores/{VECTOR_STORE}", "openai"),
        Seed("POST", f"/v1/vector_stores/{VECTOR_STORE}", "openai", {"name": "x", "metadata": {"b": "c"},
                                                                      "expires_after": None}),
        Seed("POST", f"/v1/vector_stores/{VECTOR_STORE}/search", "openai", {
            "query": ["refunds", "E4107"], "max_num_results": 3, "rewrite_query": False,
            "filters": {"type": "or", "filters": [{"type": "eq", "key": "kind", "value": "manual"},
                                                  {"type": "in", "key": "year", "value": [2024, 2025]}]},
            "ranking_options": {"ranker": "auto", "score_threshold": 0.1}}),
        Seed("POST", f"/v1/vector_stores/{VECTOR_STORE}/files", "openai", {
            "file_id": FILE, "attributes": {"kind": "manual", "year": 2024, "draft": False},
            "chunking_strategy": {"type": "auto"}}),
        Seed("GET", f"/v1/vector_stores/{VECTOR_STORE}/files", "openai", query="filter=failed&limit=1&order=asc"),
        Seed("GET", f"/v1/vector_stores/{VECTOR_STORE}/files/{FILE}", "openai"),
        Seed("POST", f"/v1/vector_stores/{VECTOR_STORE}/files/{FILE}", "openai", {"attributes": {"k": "v"}}),
        Seed("GET", f"/v1/vector_stores/{VECTOR_STORE}/files/{FILE}/content", "openai"),
        Seed("POST", f"/v1/vector_stores/{VECTOR_STORE}/file_batches", "openai", {
            "files": [{"file_id": FILE, "attributes": {"x": True}}]}),
        *(Seed("POST", "/v1/responses", "openai", {
            "model": model, "input": "How long do refunds take?", "include": ["file_search_call.results"],
            "tools": [{"type": "file_search", "vector_store_ids": [VECTOR_STORE], "max_num_results": 3,
                       "filters": {"type": "eq", "key": "kind", "value": "manual"},
                       "ranking_options": {"ranker": "none", "score_threshold": 0.2}}], "stream": stream,
            "tool_choice": {"type": "file_search"} if stream else "auto"})
          for model in ("an/claude-x", "rs/gpt-5") for stream in (False, True)),
        Seed("DELETE", f"/v1/vector_stores/{VECTOR_STORE}/files/{FILE}", "openai"),
        Seed("DELETE", f"/v1/vector_stores/{VECTOR_STORE}", "openai")]),
    "file_search_stores": (150, [
        Seed("POST", "/v1beta/fileSearchStores", "gemini", {"displayName": "Support docs"}),
        Seed("GET", "/v1beta/fileSearchStores", "gemini", query="pageSize=2"),
        Seed("GET", f"/v1beta/fileSearchStores/{VECTOR_STORE}", "gemini"),
        Seed("POST", f"/v1beta/fileSearchStores/{VECTOR_STORE}:importFile", "gemini", {
            "fileName": f"files/{FILE}", "customMetadata": [
                {"key": "kind", "stringValue": "manual"}, {"key": "year", "numericValue": 2024},
                {"key": "tags", "stringListValue": {"values": ["a", "b"]}}],
            "chunkingConfig": {"whiteSpaceConfig": {"maxTokensPerChunk": 200, "maxOverlapTokens": 20}}}),
        Seed("POST", f"/upload/v1beta/fileSearchStores/{VECTOR_STORE}:uploadToFileSearchStore", "gemini", {
            "displayName": "a.txt", "customMetadata": [{"key": "kind", "stringValue": "note"}]},
             headers=(("x-goog-upload-protocol", "resumable"), ("x-goog-upload-command", "start"),
                      ("x-goog-upload-header-content-length", "5"),
                      ("x-goog-upload-header-content-type", "text/plain"))),
        Seed("GET", f"/v1beta/fileSearchStores/{VECTOR_STORE}/documents", "gemini", query="pageSize=1"),
        Seed("GET", f"/v1beta/fileSearchStores/{VECTOR_STORE}/documents/{FILE}", "gemini"),
        Seed("GET", f"/v1beta/fileSearchStores/{VECTOR_STORE}/operations/{FILE}", "gemini"),
        Seed("GET", f"/v1beta/fileSearchStores/{VECTOR_STORE}/upload/operations/{FILE}", "gemini"),
        *(gemini(model, verb, {
            "contents": [{"role": "user", "parts": [{"text": "How long do refunds take?"}]}],
            "tools": [{"fileSearch": {"fileSearchStoreNames": [f"fileSearchStores/{VECTOR_STORE}"], "topK": 3,
                                      "metadataFilter": 'kind = "manual" OR NOT (year < 2000)'}}]},
                 "alt=sse" if verb == "streamGenerateContent" else "")
          for model in ("an/claude-x", "gm/gemini-2.5-flash") for verb in ("generateContent", "streamGenerateContent")),
        Seed("DELETE", f"/v1beta/fileSearchStores/{VECTOR_STORE}/documents/{FILE}", "gemini", query="force=true"),
        Seed("DELETE", f"/v1beta/fileSearchStores/{VECTOR_STORE}", "gemini", query="force=true")]),
    "batches": (175, [
        Seed("POST", "/v1/batches", "openai", {"input_file_id": BATCH_FILE, "endpoint": "/v1/chat/completions",
                                               "completion_window": "24h", "metadata": {"run": "1"},
                                               "output_expires_after": {"anchor": "created_at", "seconds": 3600}}),
        Seed("GET", "/v1/batches", "openai", query="limit=2"),
        Seed("POST", "/v1/messages/batches", "anthropic", {"requests": [{"custom_id": "r-1", "params": {
            "model": "an/claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}}]},
             headers=ANTHROPIC_VERSION),
        Seed("GET", "/v1/messages/batches", "anthropic", query="limit=2", headers=ANTHROPIC_VERSION),
        Seed("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent", "gemini", {"batch": {
            "displayName": "nightly", "inputConfig": {"requests": {"requests": [{
                "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}, "metadata": {"k": "v"}}]}}}}),
        Seed("GET", "/v1beta/batches", "gemini", query="pageSize=2")]),
    "embeddings": (175, embeddings()),
    "moderations": (100, [Seed("POST", "/v1/moderations", "openai", {"input": "a kind word"}),
                          Seed("POST", "/v1/moderations", "openai", {"model": "oa/omni-moderation-latest", "input": [
                              {"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": PNG_URL}}]})]),
    "gemini.generate": (350, [gemini(m, "generateContent", generate()) for m in CHAT_MODELS]
                        + [gemini(m, verb, {"contents": [{"role": "user", "parts": [{"text": "Run it."}]}],
                                            "tools": HOSTED["gemini"]}, query)
                           for m in CHAT_MODELS for verb, query in GENERATE_VERBS]
                        + [gemini(m, "streamGenerateContent", generate(), "alt=sse") for m in CHAT_MODELS]
                        + replayed("gemini.tool-result-request.json",
                                   ("gm/gemini-2.5-pro", "oa/gpt-x", "an/claude-x"))
                        + [gemini("oa/gpt-x", verb, {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                                                     "tools": [{"googleSearch": {"excludeDomains": ["x.example"]}}]},
                                  query) for verb, query in GENERATE_VERBS]
                        + [gemini(m, verb, {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
                                            "generationConfig": {"responseLogprobs": True, "logprobs": 2}}, query)
                           for m in LOGPROB_MODELS for verb, query in GENERATE_VERBS]),
    "gemini.stream_array": (100, [gemini(m, "streamGenerateContent", generate()) for m in CHAT_MODELS[:3]]),
    "gemini.count_tokens": (175, [gemini(m, "countTokens", b) for m in CHAT_MODELS for b in (
        generate(), {"generateContentRequest": {"model": "models/x", **generate()}})]),
    "gemini.embed": (175, [gemini(m, "embedContent", embed_one(m)) for m in EMBEDDING_MODELS]
                     + [gemini(m, "batchEmbedContents", embed_batch(m)) for m in EMBEDDING_MODELS]),
    "models": (175, [Seed("GET", "/v1/models", "openai"), Seed("GET", "/v1/models/oa/gpt-x", "openai"),
                     Seed("GET", "/v1/models", "anthropic", headers=ANTHROPIC_VERSION),
                     Seed("GET", "/v1/models/fast", "anthropic", headers=ANTHROPIC_VERSION),
                     Seed("GET", "/v1beta/models", "gemini", query="pageSize=1&pageToken=1"),
                     Seed("GET", "/v1beta/models/gm/gemini-2.5-flash", "gemini")]),
    "audio.speech": (175, [Seed("POST", "/v1/audio/speech", "openai", {
        "model": "oa/tts-1", "input": "Hello", "voice": voice, "response_format": "wav", "speed": 1.5,
        "instructions": "calm"}) for voice in ("alloy", {"id": "voice_1"})]),
    "audio.transcriptions": (175, [form("/v1/audio/transcriptions", "openai", ("model", "oa/whisper-1"),
                                        ("file", ("a.wav", "audio/wav", WAV)), ("response_format", fmt),
                                        ("timestamp_granularities[]", "word"), ("temperature", "0.2"))
                                   for fmt in ("json", "verbose_json", "text")]),
    "images.generations": (175, [Seed("POST", "/v1/images/generations", "openai", {
        "model": m, "prompt": "a lighthouse", "n": 2, "size": "1024x1024", "response_format": "b64_json"})
        for m in IMAGE_MODELS]),
    "images.edits": (175, image_edits()),
    "render": (175, [form("/v1/render", "utility", ("model", m), ("prompt", "a cat"), *files,
                          headers=(("accept", "image/webp, image/png;q=0.5"),))
                     for m in IMAGE_MODELS for files in ((), (("file", ("a.png", "image/png", PNG)),))]),
    "rerank": (60, [Seed("POST", "/v1/rerank", "utility", {"query": "a cat", "texts": ["a cat", "a dog", "a cat"],
                                                           "limit": 2}),
                    Seed("POST", "/v1/rerank", "utility", {"model": "local/minilm-bm25", "query": "a cat", "top_n": 1,
                                                           "documents": ["a dog", {"text": "a cat"}],
                                                           "return_documents": True})]),
    "transcribe": (175, [form("/v1/transcribe", "utility", ("model", "oa/whisper-1"),
                              ("file", ("a.wav", "audio/wav", WAV)), ("language", "en"), ("instructions", "x"))]),
    # The document utilities: no `url` seeds, so that no broken request makes the gateway resolve a name.
    "extract": (60, [form("/v1/extract", "utility", ("model", "local/documents"), ("file", ("a.md", "text/markdown",
                                                                                           MARKDOWN)),
                          headers=(("accept", "application/json"),)),
                     form("/v1/extract", "utility", ("file", ("a.html", "text/html", b"<main><p>Hi</p></main>")))]),
    "segment": (60, [Seed("POST", "/v1/segment", "utility", {"text": MARKDOWN.decode(), "segment_length": 8,
                                                              "segment_overlap": 2}),
                     form("/v1/segment", "utility", ("file", ("a.md", "text/markdown", MARKDOWN)),
                          ("segment_length", "16"))]),
    "summarize": (40, [Seed("POST", "/v1/summarize", "utility", {"input": "Rain all day.", "model": "oa/gpt-x"})]),
    "translate": (40, [Seed("POST", "/v1/translate", "utility", {"input": "Hello", "language": "de",
                                                                  "model": "oa/gpt-x"}),
                       form("/v1/translate", "utility", ("file", ("a.md", "text/markdown", MARKDOWN)),
                            ("lang", "German"), ("model", "oa/gpt-x"))]),
}
