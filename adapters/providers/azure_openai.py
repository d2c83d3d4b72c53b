"""The `azure-openai` kind: Azure OpenAI through its v1 API (`https://<resource>.openai.azure.com/
openai/v1`), which takes OpenAI's own paths and bodies on every resource, with no `api-version`.

It is OpenAI's API served by Azure, so everything the `openai` kind does holds (`api = "chat"` or
`"responses"`, embeddings, audio, images); what differs is that a request's model is the name the
operator gave a deployment, and the key goes in the `api-key` header (with Microsoft Entra ID,
leave `key` out and give the token in `headers`). A deployment's name need not say what it serves
("team-gpt", "search-vectors"), so `deployments` maps each to the model it deploys: that model's
name decides what the deployment can do (embeddings, speech...) and what it costs. Azure's answers
add its content filter's results (`prompt_filter_results`, each choice's `content_filter_results`),
which a Chat client gets as they came and the codecs pass over; a Chat stream opens with a chunk of
prompt filter results alone (no id, model nor choice), which the stream decoder does not take for
the stream's start.
"""

from __future__ import annotations

from typing import Any

from interlingua.adapters.providers.openai import OpenAIProvider

V1_PATH = "/openai/v1"  # the v1 API's base, on the resource's endpoint


class AzureOpenAIProvider(OpenAIProvider):
    def __init__(self, *args: Any, deployments: dict[str, str] | None = None, **kwargs: Any) -> None:
        self.deployments = deployments or {}
        super().__init__(*args, **kwargs)

    def auth_headers(self, key: str | None) -> dict[str, str]:
        return {"api-key": key} if key else {}

    def underlying(self, model: str) -> str:
        return self.deployments.get(model, model)
