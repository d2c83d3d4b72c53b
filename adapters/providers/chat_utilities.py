"""The document utilities any chat model serves: summarize, translate, and extraction into a JSON
Schema. The document is read by the embedded reader; the model is asked through the provider's
own chat path (`asking.ask`), and the tokens of every call it took are the answer's usage.

A text longer than one call should carry (`PART_TOKENS`, well inside any current model's
context) is split on its structure (`documents.segment`); the parts are asked concurrently, at
most `PARALLEL` at a time, and for a summary the part summaries are summarised again.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import orjson

from interlingua.adapters import ir, json_schema
from interlingua.adapters.documents import kinds, reader
from interlingua.adapters.documents import text as plain
from interlingua.adapters.documents.segment import segment_in_thread
from interlingua.adapters.providers.asking import ask

if TYPE_CHECKING:
    from interlingua.adapters.providers.base import Provider

PART_TOKENS = 6000
PARALLEL = 4
SUMMARY_TOKENS = 1024
# What a chat model can translate and give back in the same type: text whose markup it keeps.
TRANSLATABLE = (kinds.TEXT, kinds.MARKDOWN, kinds.HTML, kinds.CSV)

SUMMARIZE = ("Summarise the text below in its own language. Keep the facts, names and numbers that matter; "
             "answer with the summary only, as plain text.")
COMBINE = ("The texts below are summaries of consecutive parts of one document. Combine them into one summary "
           "of the whole document, in its language; answer with the summary only, as plain text.")
TRANSLATE = ("Translate the text below into {language}. {markup}Answer with the translation only, with nothing "
             "added before or after it.")
MARKUP = {kinds.MARKDOWN: "Keep its Markdown exactly: headings, lists, links, code blocks and emphasis. ",
          kinds.HTML: "Keep every HTML tag and attribute exactly as it is; translate only the text between tags. ",
          kinds.CSV: "Keep the CSV structure exactly: the same rows, columns, delimiters and quoting. "}
EXTRACT = ("Extract from the document below the information that the JSON Schema asks for, and answer with one "
           "JSON object that fits this schema, and nothing else:\n{schema}")
RETRY = "Your answer did not fit the schema: {error}. Answer again with one JSON object that fits it."


async def text_of(request: ir.DocumentRequest) -> tuple[str, str, ir.Usage]:
    """The request's text, its type, and what reading it cost (pages, characters)."""
    if request.text is not None:
        return request.text, kinds.TEXT, ir.Usage(characters=len(request.text))
    upload = request.file
    if upload is None:
        raise ir.invalid("input", "is required")
    document = await reader.read_async(upload.file, upload.content_type, upload.filename)
    return document.text, document.media_type, document.usage or ir.Usage()


async def summarize(provider: Provider, request: ir.DocumentRequest, model: str) -> ir.Rendered:
    text, media_type, usage = await text_of(request)
    summary = await _summary(provider, model, text, media_type, usage)
    return ir.Rendered(summary.encode(), "text/plain; charset=utf-8", usage)


async def _summary(provider: Provider, model: str, text: str, media_type: str, usage: ir.Usage) -> str:
    parts = await segment_in_thread(text, media_type, PART_TOKENS, 0)
    if len(parts) <= 1:
        answer, spent = await ask(provider, model, SUMMARIZE, text, max_tokens=SUMMARY_TOKENS)
        usage.add(spent)
        return answer
    summaries = await _each(provider, model, [p.text for p in parts], SUMMARIZE, usage)
    joined = "\n\n".join(summaries)
    if len(await segment_in_thread(joined, kinds.TEXT, PART_TOKENS, 0)) > 1:
        return await _summary(provider, model, joined, kinds.TEXT, usage)
    answer, spent = await ask(provider, model, COMBINE, joined, max_tokens=SUMMARY_TOKENS)
    usage.add(spent)
    return answer


async def translate(provider: Provider, request: ir.DocumentRequest, model: str) -> ir.Rendered:
    upload = request.file
    if upload is not None:
        kind = kinds.sniff(upload.file, upload.content_type, upload.filename)
        if kind not in TRANSLATABLE:
            raise kinds.unsupported(kind, TRANSLATABLE)
    text, media_type, usage = await text_of(request)
    if upload is not None and media_type == kinds.HTML:  # the markup itself, not the extracted text
        upload.file.seek(0)
        text = plain.decode(upload.file.read(), plain.charset_of(upload.content_type))
    instruction = TRANSLATE.format(language=request.language, markup=MARKUP.get(media_type, ""))
    parts = await segment_in_thread(text, media_type, PART_TOKENS, 0)
    if not parts:
        raise ir.invalid("input", "is empty")
    translated = await _each(provider, model, [p.text for p in parts], instruction, usage)
    # The text between parts (the blank lines a split fell on) is kept as it was.
    pieces = [text[:parts[0].start]]
    for index, (part, done) in enumerate(zip(parts, translated, strict=True)):
        pieces.append(done)
        pieces.append(text[part.end:parts[index + 1].start] if index + 1 < len(parts) else text[part.end:])
    answer_type = media_type if upload is not None else kinds.TEXT
    return ir.Rendered("".join(pieces).encode(), f"{answer_type}; charset=utf-8", usage)


async def extract(provider: Provider, request: ir.DocumentRequest, model: str) -> ir.Rendered:
    """A JSON object that fits `request.schema`, checked; one retry with the violation named."""
    schema = request.schema or {}
    text, _, usage = await text_of(request)
    instruction = EXTRACT.format(schema=orjson.dumps(schema).decode())
    response_format = ir.ResponseFormat("json_schema", schema=schema, name="extraction")
    validator = json_schema.validator(schema)
    error = ""
    for attempt in range(2):
        prompt = text if attempt == 0 else f"{text}\n\n{RETRY.format(error=error)}"
        answer, spent = await ask(provider, model, instruction, prompt, response_format=response_format)
        usage.add(spent)
        try:
            value = orjson.loads(_unfenced(answer))
        except orjson.JSONDecodeError as exc:
            error = f"it is not JSON ({exc})"
            continue
        try:  # in a thread: an answer may be megabytes
            problem = await asyncio.to_thread(json_schema.problem, validator, value)
        except RecursionError:  # a recursive schema follows the answer as deep as it goes
            error = "it nests too deeply"
            continue
        except json_schema.SchemaError as exc:
            raise ir.invalid("schema", str(exc)) from None
        if problem is None:
            return ir.Rendered(orjson.dumps(value), "application/json", usage)
        error = f"{problem.message} at {problem.json_path}"
    raise ir.GatewayError("upstream", f"model {provider.name}/{model} twice answered with JSON that does not fit the "
                          f"schema: {error}", code="schema_violation")


def _unfenced(answer: str) -> str:
    """A JSON answer without the Markdown code fence some models put around it."""
    stripped = answer.strip()
    if stripped.startswith("```"):
        stripped = stripped.partition("\n")[2].rstrip().removesuffix("```")
    return stripped


async def _each(provider: Provider, model: str, texts: list[str], instruction: str, usage: ir.Usage) -> list[str]:
    """Ask about each text, at most `PARALLEL` at once; the answers in order."""
    gate = asyncio.Semaphore(PARALLEL)

    async def one(text: str) -> str:
        async with gate:
            answer, spent = await ask(provider, model, instruction, text)
        usage.add(spent)
        return answer

    return list(await asyncio.gather(*(one(t) for t in texts)))
