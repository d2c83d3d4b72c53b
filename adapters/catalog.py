"""Which models exist and which upstream targets serve each, built once from the configuration.

A model is addressed as `provider/model` (always routable to a configured provider), by an alias
(its targets, ordered for each request by its policy, see `balancer.py`), or by a bare name that
providers list (each listing provider, in config order, so two providers of one model back each
other up). The retrieval utilities add two names: a provider's own name (`tavily`) is its default
model, and the name of the capability itself (`search`, `rerank`, `research`, what a client that
names no model asks for) is every provider that has a default model for it, in config order, the
embedded `local` provider last.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from interlingua.adapters.balancer import Balancer, Policy
from interlingua.adapters.dialects.base import ModelCard
from interlingua.adapters.providers import Provider, Target

DEFAULTED = ("search", "rerank", "research")  # capabilities a client may ask for without naming a model


class Catalog:
    def __init__(self, providers: Mapping[str, Provider], aliases: Mapping[str, Iterable[str]],
                 policies: Mapping[str, Policy] | None = None, balancer: Balancer | None = None) -> None:
        self.providers = dict(providers)
        self.policies = dict(policies or {})
        self.balancer = balancer or Balancer()
        self.aliases = {name: [self._target(t) for t in targets] for name, targets in aliases.items()}
        self.listed: dict[str, list[Target]] = {}
        for provider in self.providers.values():
            for model in provider.models:
                self.listed.setdefault(model, []).append(Target(provider, model))

    def _target(self, label: str) -> Target:
        provider, _, model = label.partition("/")
        return Target(self.providers[provider], model)

    def resolve(self, model: str) -> list[Target] | None:
        targets = self.aliases.get(model) or self.listed.get(model)
        if targets:
            return targets
        if model in DEFAULTED:
            ordered = sorted(self.providers.values(), key=lambda p: p.kind == "local")  # stable: config order
            return [Target(p, m) for p in ordered if (m := p.model_for(model))] or None
        own = self.providers.get(model)
        default = next((m for c in DEFAULTED if (m := own.model_for(c))), None) if own is not None else None
        if own is not None and default:
            return [Target(own, default)]
        provider, sep, upstream_model = model.partition("/")
        if sep and upstream_model and provider in self.providers:
            return [Target(self.providers[provider], upstream_model)]
        return None

    def route(self, model: str) -> list[Target] | None:
        """The targets of `model` in the order to try them for this request."""
        targets = self.resolve(model)
        return None if targets is None else self.balancer.order(targets, self.policies.get(model))

    def labels(self, model: str) -> list[str]:
        return [t.label for t in self.resolve(model) or ()]

    def cards(self) -> list[ModelCard]:
        names = [*self.aliases, *(name for name in self.listed if name not in self.aliases)]
        return [card for name in names if (card := self.card(name)) is not None]

    def card(self, model: str) -> ModelCard | None:
        targets = self.resolve(model)
        if targets is None:
            return None
        owner = "interlingua" if model in self.aliases else targets[0].provider.name
        return ModelCard(model, owner, capabilities=self.capabilities(targets))

    @staticmethod
    def capabilities(targets: list[Target]) -> tuple[str, ...]:
        found: dict[str, None] = {}
        for target in targets:
            found.update(dict.fromkeys(target.capabilities))
        return tuple(found)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
