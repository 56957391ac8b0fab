from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from daarion.agents.models import Agent, ServiceToken
from daarion.agents.services import service_token_create


class Command(BaseCommand):
    help = "Create a service token. The token is printed alone on the last line (shown once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes", required=True, help="Comma-separated: llm,memory,tools,agents"
        )
        parser.add_argument("--agent", default=None, help="Bind the token to this agent id.")

    def handle(self, *args, name: str, scopes: str, agent: str | None, **options) -> None:
        if ServiceToken.objects.filter(name=name).exists():
            raise CommandError(f"A service token named {name!r} exists already.")
        if agent and not Agent.objects.filter(pk=agent).exists():
            raise CommandError(f"Unknown agent {agent!r}.")
        try:
            token, raw = service_token_create(name=name, scopes=scopes.split(","), agent_id=agent)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        bound = f", bound to {token.agent_id}" if token.agent_id else ""
        self.stderr.write(
            f"Created service token {token.name!r} (scopes: {','.join(token.scopes)}{bound})."
        )
        self.stderr.write("It is shown once; store it now.")
        self.stdout.write(raw)
