"""Factories for the gateway's registry."""

from __future__ import annotations

from decimal import Decimal

import factory

from llm.models import ModelRoute, Provider, ProviderKey, ProviderKind, RouteKind, RouteTarget


class ProviderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Provider
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"provider{n}")
    kind = ProviderKind.OPENAI_COMPATIBLE
    base_url = "http://127.0.0.1:9/v1"
    timeout_seconds = 5.0


class OfflineProviderFactory(ProviderFactory):
    name = "offline"
    kind = ProviderKind.OFFLINE
    base_url = ""


class ProviderKeyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProviderKey

    provider = factory.SubFactory(ProviderFactory)
    label = "test"
    secret = factory.Sequence(lambda n: f"sk-test-secret-{n:04d}-abcdefghijklmnop")


class ModelRouteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelRoute
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"route-{n}")
    kind = RouteKind.CHAT


class RouteTargetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RouteTarget

    route = factory.SubFactory(ModelRouteFactory)
    provider = factory.SubFactory(ProviderFactory)
    physical_model = "fake-model"
    priority = factory.Sequence(lambda n: n + 1)
    input_price_per_1m = Decimal("1.00")
    output_price_per_1m = Decimal("2.00")


def make_route(name: str, *providers: Provider, kind: str = RouteKind.CHAT, **target_fields):
    """A route whose targets are `providers` in priority order."""
    route = ModelRouteFactory(name=name, kind=kind)
    for position, provider in enumerate(providers, start=1):
        RouteTargetFactory(route=route, provider=provider, priority=position, **target_fields)
    return route
