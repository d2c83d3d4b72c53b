"""The OpenAI Agents SDK (`openai-agents`) on the gateway, its model on an Anthropic upstream: an
agent that calls a tool and answers, its conversation kept by the gateway both ways the SDK keeps
one (server-managed, `conversation_id`; and `OpenAIConversationsSession`, which reads and writes
the items itself), so a second run remembers the first; and the same agent on Chat Completions,
streamed, on a Gemini upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from agents import (
    Agent,
    OpenAIChatCompletionsModel,
    OpenAIConversationsSession,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)

from tests.fakes import anthropic_upstream as fa
from tests.fakes import gemini_upstream as fg
from tests.harness import anthropic_provider, client, gateway, gemini_provider
from tests.support import async_test

set_tracing_disabled(True)  # the SDK would send its traces to OpenAI


def _agent(url: str, looked_up: list[str], chat: str | None = None) -> Agent:
    """A forecaster with one tool, its model on the Responses API, or on Chat Completions (`chat`)."""
    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        looked_up.append(city)
        return f"-3 C in {city}"

    model = (OpenAIChatCompletionsModel(model=chat, openai_client=client(url)) if chat
             else OpenAIResponsesModel(model="claude-x", openai_client=client(url)))
    return Agent(name="forecaster", instructions="Answer briefly.", model=model, tools=[get_weather])


@asynccontextmanager
async def _on_claude(tmp_path: Path) -> AsyncIterator[tuple[fa.FakeAnthropic, str, Agent, list[str]]]:
    """The gateway on a fake Claude scripted for two runs (a tool call and its answer, then a reply
    from memory), the forecaster on it, and the cities its tool looked up."""
    async with fa.FakeAnthropic(["claude-x"]) as fake, gateway(
            tmp_path, providers={"an": anthropic_provider(fake.url, "claude-x")}) as (_, url):
        fake.script(fa.tool_use(fa.call("get_weather", '{"city": "Oslo"}')), fa.text("Cold: -3 C."),
                    fa.text("You asked about Oslo."))
        looked_up: list[str] = []
        yield fake, url, _agent(url, looked_up), looked_up


@async_test
async def test_an_agent_remembers_through_a_server_managed_conversation(tmp_path: Path) -> None:
    async with _on_claude(tmp_path) as (fake, url, agent, looked_up):
        conversation = (await client(url).conversations.create()).id
        first = await Runner.run(agent, "Weather in Oslo?", conversation_id=conversation)
        assert first.final_output == "Cold: -3 C." and looked_up == ["Oslo"]
        second = await Runner.run(agent, "Which city did I ask about?", conversation_id=conversation)
        assert second.final_output == "You asked about Oslo."
        sent = fake.requests[-1].json
        said = str(sent["messages"])
        assert all(part in said for part in ("Weather in Oslo?", "-3 C in Oslo", "Cold: -3 C.",
                                             "Which city did I ask about?"))
        kinds = [item.type for item in (await client(url).conversations.items.list(conversation, order="asc")).data]
        assert kinds == ["message", "function_call", "function_call_output", "message", "message", "message"]


@async_test
async def test_an_agent_remembers_through_a_conversations_session(tmp_path: Path) -> None:
    async with _on_claude(tmp_path) as (fake, url, agent, looked_up):
        session = OpenAIConversationsSession(openai_client=client(url))
        first = await Runner.run(agent, "Weather in Oslo?", session=session)
        assert first.final_output == "Cold: -3 C." and looked_up == ["Oslo"]
        second = await Runner.run(agent, "Which city did I ask about?", session=session)
        assert second.final_output == "You asked about Oslo."
        assert "-3 C in Oslo" in str(fake.requests[-1].json["messages"])
        items = await session.get_items()
        assert [item.get("type", "message") for item in items][:3] == ["message", "function_call",
                                                                        "function_call_output"]
        popped = await session.pop_item()
        assert popped is not None and len(await session.get_items()) == len(items) - 1
        await session.clear_session()


@async_test
async def test_a_streamed_agent_on_chat_completions_runs_its_tool_on_gemini(tmp_path: Path) -> None:
    async with fg.FakeGemini(["gemini-2.5-flash"]) as fake, gateway(
            tmp_path, providers={"gm": gemini_provider(fake.url, "gemini-2.5-flash")}) as (_, url):
        fake.script(fg.function_calls(fg.call("get_weather", {"city": "Oslo"})), fg.text("Cold", ": -3 C."))
        looked_up: list[str] = []
        run = Runner.run_streamed(_agent(url, looked_up, chat="gemini-2.5-flash"), "Weather in Oslo?")
        deltas = [event.data.delta async for event in run.stream_events()
                  if event.type == "raw_response_event" and event.data.type == "response.output_text.delta"]
        assert run.final_output == "Cold: -3 C." and "".join(deltas) == "Cold: -3 C." and looked_up == ["Oslo"]
        answered = fake.requests[-1].json["contents"]
        assert any("functionResponse" in part for content in answered for part in content["parts"])
