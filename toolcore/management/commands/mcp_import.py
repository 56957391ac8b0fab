from django.core.management.base import BaseCommand, CommandError

from toolcore.mcp.importer import McpImportError, mcp_server_import_tools
from toolcore.models import McpServer


class Command(BaseCommand):
    help = (
        "Import the tools of external MCP servers as tools of executor kind 'mcp' (re-running "
        "updates them and disables tools a server no longer offers). New tools are granted to "
        "no agent."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("names", nargs="*", help="MCP server names (see admin).")
        parser.add_argument("--all", action="store_true", help="Every enabled MCP server.")

    def handle(self, *args, names: list[str], **options) -> None:
        if options["all"]:
            servers = list(McpServer.objects.filter(enabled=True))
        elif names:
            servers = list(McpServer.objects.filter(name__in=names))
            missing = sorted(set(names) - {server.name for server in servers})
            if missing:
                raise CommandError(f"Unknown MCP server(s): {', '.join(missing)}.")
        else:
            raise CommandError("Name one or more MCP servers, or pass --all.")
        failed = []
        for server in servers:
            try:
                report = mcp_server_import_tools(server=server)
            except McpImportError as exc:
                failed.append(server.name)
                self.stderr.write(f"MCP server '{server.name}': {exc}")
                continue
            self.stdout.write(report.summary())
        if failed:
            raise CommandError(f"Import failed for: {', '.join(failed)}.")
