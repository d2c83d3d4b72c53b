"""OpenAI Batch, Anthropic Message Batches and Gemini's Batch API, run by the gateway on any upstream.

`BatchesMiddleware` answers `/v1/batches` (create, retrieve, list, cancel),
`/v1/messages/batches` (the same, and results and delete) and Gemini's `:batchGenerateContent` and
`/v1beta/batches` (the same, its responses inline) for the calling key;
`BatchRunner` runs the batches, one per process, whatever config the stack is on. Each line of a
batch's input file goes through `entry` (the gateway below its auth: the line's own dialect and
operation, limits, routing, fallbacks, metering) as a request of the batch's key, a few at a time;
its answer, whatever its status, becomes a line of the output file (2xx) or of the error file, and
is recorded as it comes, so a batch stopped midway (a restart, a worker gone) is taken up where it
was by whichever worker or replica finds its lease run out. A line a limit refuses (429) is asked
again once its `Retry-After` has passed; one refused by an exhausted budget is not. A cancel
stops the lines not yet asked; the answers so far are kept in the files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from interlingua.adapters import ir
from interlingua.adapters import operations as ops
from interlingua.adapters.dialects import CODECS, gemini_files
from interlingua.adapters.dialects import anthropic_batches as anthropic
from interlingua.adapters.dialects import gemini_batches as gemini
from interlingua.adapters.dialects import openai_batches as wire
from interlingua.adapters.dialects import openai_pages as pages
from interlingua.adapters.dialects.anthropic_request import NAME as ANTHROPIC
from interlingua.adapters.dialects.files import StoredFile, new_file_id
from interlingua.adapters.dialects.gemini_request import NAME as GEMINI
from interlingua.adapters.dialects.openai_batches import FINAL
from interlingua.adapters.storage.batches import Batches, Result
from interlingua.adapters.storage.files import Files
from interlingua.middleware.nesting import check_nesting
from interlingua.middleware.normalise import read_body
from interlingua.middleware.respond import JSON, base_url, send_error
from interlingua.middleware.state import DIALECT, OPERATION, PARAMS, PRINCIPAL, Principal, owner_of, state_of

log = logging.getLogger("interlingua.batches")

JSONL = (b"content-type", b"application/x-jsonl")
LEASE_S = 30.0  # a running batch's lease; renewed every third of it
SWEEP_S = 15.0  # how often a process looks for batches whose lease ran out
PROGRESS_S = 1.0  # how often a running batch's counts are stored (and a cancel is looked for)
MAX_TRIES = 50  # asks of one line refused by a rate limit (429), each after its Retry-After

Entry = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
PrincipalOf = Callable[[str | None], Awaitable[Principal | None]]


class BatchesMiddleware:
    def __init__(self, app: Any, runner: BatchRunner | None, max_body_bytes: int = 32 * 1024 * 1024) -> None:
        self.app = app
        self.runner = runner
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = state_of(scope) if scope["type"] == "http" else {}
        operation = state.get(OPERATION)
        if self.runner is None or operation not in ops.BATCHES:
            await self.app(scope, receive, send)
            return
        self.runner.start()
        try:
            if state[DIALECT].name == ANTHROPIC:
                answer = await self._anthropic(scope, receive, operation, state)
            elif state[DIALECT].name == GEMINI:
                answer = await self._gemini(scope, receive, operation, state)
            else:
                answer = await self._openai(scope, receive, operation, state)
        except ir.GatewayError as error:
            await send_error(scope, send, error)
            return
        body, kind = (answer, JSONL) if isinstance(answer, bytes) else (orjson.dumps(answer), JSON)
        await send({"type": "http.response.start", "status": 200, "headers": [kind]})
        await send({"type": "http.response.body", "body": body})

    async def _body(self, receive: Any) -> Any:
        chunks: list[bytes] = []
        if not await read_body(receive, self.max_body_bytes, chunks.append):
            raise ir.GatewayError("invalid_request", "the client went away")
        body = b"".join(chunks)
        try:
            parsed = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ir.GatewayError("invalid_request", f"request body is not valid JSON: {exc}") from None
        check_nesting(body)  # its requests are written out again as input lines
        return parsed

    async def _openai(self, scope: dict[str, Any], receive: Any, operation: ops.Operation,
                      state: dict[str, Any]) -> Any:
        runner = self.runner
        assert runner is not None
        owner = owner_of(state)
        if operation is ops.BATCHES_CREATE:
            return await runner.create(owner, wire.decode_create(await self._body(receive)))
        if operation is ops.BATCHES_LIST:
            after, limit, _ = pages.page_of(scope.get("query_string", b""))
            batches, more = await runner.store.page(owner, after, limit)
            return wire.batch_list([_public(batch) for batch in batches], more)
        batch_id = state[PARAMS]["id"]
        found = await (runner.cancel(owner, batch_id) if operation is ops.BATCHES_CANCEL
                       else runner.store.get(owner, batch_id))
        if found is None:
            raise wire.not_found(batch_id)
        return _public(found)

    async def _anthropic(self, scope: dict[str, Any], receive: Any, operation: ops.Operation,
                         state: dict[str, Any]) -> Any:
        """Anthropic's Message Batches: its requests become a `batch` input file of `/v1/messages`
        lines, run as an OpenAI batch is; its state and results are read into Anthropic's shapes."""
        runner = self.runner
        assert runner is not None
        owner, base = owner_of(state), base_url(scope)
        if operation is ops.BATCHES_CREATE:
            lines = anthropic.decode_create(await self._body(receive))
            now = int(time.time())
            source = StoredFile(new_file_id(), "message_batch_requests.jsonl", "batch", "application/jsonl",
                                len(lines), now, now + anthropic.RESULTS_SECONDS)
            await runner.files.create(owner, source, lines)
            made = await runner.create(owner, wire.BatchAsk(source.id, anthropic.ENDPOINT, None,
                                                            anthropic.RESULTS_SECONDS), "msgbatch")
            return anthropic.batch_object(made, base)
        if operation is ops.BATCHES_LIST:
            after, limit = anthropic.listing(scope.get("query_string", b""))
            batches, more = await runner.page(owner, after, limit, _anthropic_batch)
            return anthropic.batch_list([anthropic.batch_object(b, base) for b in batches], more)
        batch_id = state[PARAMS]["id"]
        found = await runner.store.get(owner, batch_id)
        if found is None or not _anthropic_batch(found):  # an OpenAI client's batch is not one
            raise anthropic.not_found(batch_id)
        if operation is ops.BATCHES_CANCEL:
            found = await runner.cancel(owner, batch_id) or found
        elif operation is ops.BATCHES_RESULTS or operation is ops.BATCHES_DELETE:
            if found["status"] not in FINAL:
                raise ir.invalid("message_batch_id", f"batch {batch_id} is still processing")
            if operation is ops.BATCHES_RESULTS:
                asked = wire.read_lines(await runner.requests(found), found["endpoint"])[0]
                return anthropic.results([line.custom_id for line in asked], await runner.answered(found))
            await runner.delete(owner, found)
            return anthropic.deleted_object(batch_id)
        return anthropic.batch_object(found, base)

    async def _gemini(self, scope: dict[str, Any], receive: Any, operation: ops.Operation,
                      state: dict[str, Any]) -> Any:
        """Gemini's Batch API: its inline requests become a `batch` input file of `generateContent`
        lines of the batch's model, run as an OpenAI batch is; read into Gemini's batch operation."""
        runner = self.runner
        assert runner is not None
        owner = owner_of(state)
        if operation is ops.BATCHES_CREATE:
            model = state[PARAMS]["model"]
            ask = gemini.decode_create(await self._body(receive), model)
            lines = ask.lines
            if lines is None:
                assert ask.file is not None
                file_id = gemini_files.file_id(ask.file)
                named = (await runner.files.content(owner, [file_id])).get(file_id)
                if named is None:
                    raise ir.invalid("batch.inputConfig.fileName", f"no file named {ask.file!r}")
                lines = gemini.decode_file(named[1], model)
            now = int(time.time())
            source = StoredFile(new_file_id(), "batch_requests.jsonl", "batch", "application/jsonl", len(lines), now,
                                now + gemini.RESULTS_SECONDS)
            await runner.files.create(owner, source, lines)
            made = await runner.create(owner, wire.BatchAsk(source.id, gemini.endpoint(model), {
                "displayName": ask.display_name or "", "source": "file" if ask.file else "inline"},
                gemini.RESULTS_SECONDS))
            return gemini.batch_object(made)
        if operation is ops.BATCHES_LIST:
            after, limit = gemini.listing(scope.get("query_string", b""))
            return gemini.batch_list(*await runner.page(owner, after, limit, gemini.is_gemini))
        batch_id = state[PARAMS]["id"]
        found = await runner.store.get(owner, batch_id)
        if found is None or not gemini.is_gemini(found):
            raise gemini.not_found(batch_id)
        if operation is ops.BATCHES_CANCEL:
            await runner.cancel(owner, batch_id)
            return {}
        if operation is ops.BATCHES_DELETE:
            if found["status"] not in FINAL:
                raise ir.invalid("name", f"batches/{batch_id} is still running: cancel it first")
            await runner.delete(owner, found)
            responses = (found.get("metadata") or {}).get("responsesFile")
            if responses:
                await runner.files.delete(owner, gemini_files.file_id(responses))
            return {}
        if found["status"] not in FINAL:
            return gemini.batch_object(found)
        return gemini.batch_object(found, await self._gemini_output(owner, found))

    async def _gemini_output(self, owner: str | None, batch: dict[str, Any]) -> dict[str, Any]:
        """An ended Gemini batch's responses: inline, or (read from a file) a file of them, made
        on the first look and kept with the batch."""
        runner = self.runner
        assert runner is not None
        metadata = batch.get("metadata") or {}
        if metadata.get("responsesFile"):
            return {"responsesFile": metadata["responsesFile"]}
        answers = gemini.responses(await runner.requests(batch), await runner.answered(batch))
        if metadata.get("source") != "file":
            return {"inlinedResponses": {"inlinedResponses": answers}}
        data = gemini.responses_file(answers)
        now = int(time.time())
        made = StoredFile(new_file_id(), "batch_responses.jsonl", "batch_output", "application/jsonl", len(data), now,
                          now + gemini.RESULTS_SECONDS)
        await runner.files.create(owner, made, data)
        batch["metadata"] = {**metadata, "responsesFile": f"files/{made.id}"}
        await runner.store.save(batch)
        return {"responsesFile": batch["metadata"]["responsesFile"]}


def _anthropic_batch(batch: dict[str, Any]) -> bool:
    return bool(batch["endpoint"] == anthropic.ENDPOINT)


class BatchRunner:
    """Runs this process's batches through `entry`, `concurrency` lines of each at a time."""

    def __init__(self, store: Batches, files: Files, entry: Entry, principal_of: PrincipalOf,
                 concurrency: int = 4, lease: float = LEASE_S, sweep: float = SWEEP_S) -> None:
        self.store = store
        self.files = files
        self.entry = entry
        self.principal_of = principal_of
        self.concurrency = concurrency
        self.lease = lease
        self.sweep_every = sweep
        self.holder = secrets.token_hex(8)  # this process, as the leases name it
        self._runs: dict[str, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Look for batches left running by a stopped process, now and every `sweep` seconds."""
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def _sweep(self) -> None:
        while True:
            try:
                for batch_id, owner in await self.store.stale(time.time()):
                    self._run(batch_id, owner)
            except ir.GatewayError:  # the store is away: the next sweep looks again
                log.warning("batches: the store is unreachable; looking for stopped batches later")
            except Exception:  # a sweep that fails must not end the sweeping
                log.exception("batches: looking for stopped batches failed; looking again later")
            await asyncio.sleep(self.sweep_every)

    async def create(self, owner: str | None, ask: wire.BatchAsk, prefix: str = "batch") -> dict[str, Any]:
        found = (await self.files.content(owner, [ask.input_file_id])).get(ask.input_file_id)
        if found is None:
            raise ir.invalid("input_file_id", f"no file with id {ask.input_file_id!r}")
        stored, data = found
        if stored.purpose != "batch":
            raise ir.invalid("input_file_id", "the file must be uploaded with purpose `batch`")
        now = int(time.time())
        batch = wire.new_batch(wire.new_batch_id(prefix), ask, now) | {"output_expires_in": ask.output_expires_in}
        lines, errors = wire.read_lines(data, ask.endpoint)
        if errors:
            batch.update(status="failed", failed_at=now, errors={"object": "list", "data": errors})
        else:
            batch.update(status="in_progress", in_progress_at=now,
                         request_counts={"total": len(lines), "completed": 0, "failed": 0})
        await self.store.create(owner, batch)
        if not errors:
            self._run(batch["id"], owner)
        return _public(batch)

    async def page(self, owner: str | None, after: str | None, limit: int,
                   kept: Callable[[dict[str, Any]], bool]) -> tuple[list[dict[str, Any]], bool]:
        """A page of the key's batches that `kept` says are one dialect's, newest first, and whether
        more follow: read on past the others, so that no page is empty but the last (google-genai's
        pager reads no further than an empty page)."""
        listed: list[dict[str, Any]] = []
        more = True
        while more and len(listed) <= limit:
            page, more = await self.store.page(owner, after, limit + 1)
            listed += [batch for batch in page if kept(batch)]
            after = page[-1]["id"] if page else after
        return listed[:limit], len(listed) > limit

    async def answered(self, batch: dict[str, Any]) -> dict[str, tuple[int, Any]]:
        """The answers a batch's requests got so far, by `custom_id`: status and body, for the
        dialects that answer with them (Anthropic's results, Gemini's batch)."""
        answered = {}
        for _, status, line in await self.store.results(batch["id"]):
            parsed = orjson.loads(line)
            answered[parsed["custom_id"]] = status, parsed["response"]["body"]
        return answered

    async def requests(self, batch: dict[str, Any]) -> bytes:
        """A batch's input file; nothing once it is gone."""
        found = (await self.files.content(None, [batch["input_file_id"]])).get(batch["input_file_id"])
        return found[1] if found else b""

    async def delete(self, owner: str | None, batch: dict[str, Any]) -> None:
        """An ended batch, its answers and its files (the requests, the output, the errors)."""
        await self.store.delete(owner, batch["id"])
        for file_id in (batch.get("input_file_id"), batch.get("output_file_id"), batch.get("error_file_id")):
            if file_id:
                await self.files.delete(owner, file_id)

    async def cancel(self, owner: str | None, batch_id: str) -> dict[str, Any] | None:
        """Mark a running batch `cancelling` (its run finishes it as cancelled); one that has ended
        is answered as it is."""
        batch = await self.store.get(owner, batch_id)
        if batch is not None and batch["status"] in ("validating", "in_progress"):
            batch.update(status="cancelling", cancelling_at=int(time.time()))
            await self.store.save(batch, unless=FINAL)
        return batch

    def _run(self, batch_id: str, owner: str | None) -> None:
        if batch_id not in self._runs:
            task = asyncio.get_running_loop().create_task(self._guarded(batch_id, owner))
            self._runs[batch_id] = task
            task.add_done_callback(lambda _: self._runs.pop(batch_id, None))

    async def _guarded(self, batch_id: str, owner: str | None) -> None:
        try:
            await self._work(batch_id, owner)
        except ir.GatewayError:  # the store went away: the lease runs out, and a sweep takes it up
            log.warning("batch %s paused: the store is unreachable", batch_id)
        except Exception:
            log.exception("batch %s stopped; a sweep takes it up once its lease runs out", batch_id)

    async def _work(self, batch_id: str, owner: str | None) -> None:
        if not await self._renew(batch_id):
            return  # another process runs it
        batch = await self.store.get(None, batch_id)
        if batch is None or batch["status"] in FINAL:
            return
        found = (await self.files.content(None, [batch["input_file_id"]])).get(batch["input_file_id"])
        principal = await self.principal_of(owner)
        if found is None or principal is None:
            why = "its input file was deleted" if found is None else "its key no longer exists"
            now = int(time.time())
            batch.update(status="failed", failed_at=now, errors={"object": "list", "data": [
                {"code": "batch_stopped", "message": f"The batch cannot go on: {why}.", "param": None, "line": None}]})
            await self.store.save(batch)
            return
        done = {number for number, _, _ in await self.store.results(batch_id)}
        pending = [line for line in wire.read_lines(found[1], batch["endpoint"])[0] if line.number not in done]
        keeper = asyncio.get_running_loop().create_task(self._keep(batch))
        try:
            if batch["status"] != "cancelling":
                await self._ask_all(batch, principal, pending, keeper)
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper
        await self._finish(batch, owner)

    async def _renew(self, batch_id: str) -> bool:
        now = time.time()
        return await self.store.claim(batch_id, self.holder, now + self.lease, now)

    async def _keep(self, batch: dict[str, Any]) -> None:
        """Store the counts and renew the lease while the lines are asked; end when a cancel is
        stored (by any worker), which `_ask_all` sees."""
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(PROGRESS_S)
            if not await self.store.save(batch, unless=("cancelling", *FINAL)):
                return
            if time.monotonic() - renewed > self.lease / 3:
                await self._renew(batch["id"])
                renewed = time.monotonic()

    async def _ask_all(self, batch: dict[str, Any], principal: Principal, pending: list[wire.Line],
                       keeper: asyncio.Task[None]) -> None:
        queue = iter(pending)

        async def worker() -> None:
            for line in queue:
                if keeper.done():
                    return
                result = await self._ask(batch["endpoint"], principal, line)
                await self.store.record(batch["id"], result)
                key = "completed" if 200 <= result[1] < 300 else "failed"
                batch["request_counts"][key] += 1

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))

    async def _ask(self, path: str, principal: Principal, line: wire.Line) -> Result:
        """One line through the gateway, asked again after a rate limit's Retry-After."""
        request_id = f"req_{secrets.token_hex(16)}"
        for _ in range(MAX_TRIES):
            status, headers, body = await self._request(path, principal, line.body, request_id)
            wait = headers.get(b"retry-after")
            if status != 429 or wait is None or b"budget_exceeded" in body:
                break
            await asyncio.sleep(min(float(wait), 60.0) if wait.isdigit() else 1.0)
        return line.number, status, wire.output_line(line.custom_id, status, request_id, body)

    async def _request(self, path: str, principal: Principal, body: bytes,
                       request_id: str) -> tuple[int, dict[bytes, bytes], bytes]:
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
                 "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                             (b"x-request-id", request_id.encode())],
                 "client": None, "server": None, "state": {PRINCIPAL: principal}}
        sent = False
        answered = asyncio.Event()

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await answered.wait()
            return {"type": "http.disconnect"}

        status, headers, chunks = 500, {}, []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], dict(message.get("headers") or ())
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    answered.set()

        try:
            await self.entry(scope, receive, send)
        finally:
            answered.set()
        return status, headers, b"".join(chunks)

    async def _finish(self, batch: dict[str, Any], owner: str | None) -> None:
        """The output and error files from every line answered, and the batch's final state."""
        now = int(time.time())
        now_stored = await self.store.get(None, batch["id"]) or batch
        cancelled = now_stored["status"] == "cancelling"
        if cancelled:  # by a cancel stored meanwhile, on any worker: its time is there
            batch["cancelling_at"] = now_stored.get("cancelling_at")
        results = await self.store.results(batch["id"])
        expires = now + int(batch.get("output_expires_in") or wire.OUTPUT_EXPIRY[1])
        for kind, wanted in (("output", True), ("error", False)):
            lines = [line for _, status, line in results if (200 <= status < 300) == wanted]
            if lines:
                data = b"\n".join(lines) + b"\n"
                made = StoredFile(new_file_id(), f"{batch['id']}_{kind}.jsonl", "batch_output", "application/jsonl",
                                  len(data), now, expires)
                await self.files.create(owner, made, data)
                batch[f"{kind}_file_id"] = made.id
        ok = sum(200 <= status < 300 for _, status, _ in results)
        batch["request_counts"].update(completed=ok, failed=len(results) - ok)
        batch["usage"] = _usage(batch["endpoint"], results)
        if cancelled:
            batch.update(status="cancelled", cancelled_at=now)
        else:
            batch.update(status="completed", finalizing_at=now, completed_at=now)
        await self.store.save(batch)

    async def aclose(self) -> None:
        """Stop this process's runs; their leases run out, and another process takes them up."""
        tasks = [*self._runs.values(), *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task


def _usage(endpoint: str, results: list[Result]) -> dict[str, Any]:
    """The tokens of a batch's answered lines, summed as the Batch object's `usage` has them."""
    codec = next(c for c in CODECS if c.match("POST", endpoint, {}, b"") is not None)
    total = ir.Usage()
    for _, status, line in results:
        total.add(codec.usage_of(orjson.loads(line)["response"]["body"]) if 200 <= status < 300 else None)
    return {"input_tokens": total.input_tokens, "input_tokens_details": {"cached_tokens": total.cache_read_tokens},
            "output_tokens": total.output_tokens, "output_tokens_details": {"reasoning_tokens": total.reasoning_tokens},
            "total_tokens": total.input_tokens + total.output_tokens}


def _public(batch: dict[str, Any]) -> dict[str, Any]:
    """The Batch object as the client reads it, without what only the runner keeps."""
    return {k: v for k, v in batch.items() if k != "output_expires_in"}
