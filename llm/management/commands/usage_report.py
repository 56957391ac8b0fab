from django.core.management.base import BaseCommand, CommandError

from llm.reports import report_csv, report_table
from llm.selectors import GROUPS, parse_since, usage_report


class Command(BaseCommand):
    help = "LLM usage by agent, microDAO, model, provider or day: requests, tokens, cost, errors."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--since", default="30d", help="24h, 7d, 2w or an ISO date")
        parser.add_argument("--group-by", default="day", choices=sorted(GROUPS))
        parser.add_argument("--format", default="table", choices=["table", "csv"])

    def handle(self, *args, since: str, group_by: str, format: str, **options) -> None:
        try:
            start = parse_since(since)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        rows = usage_report(group_by=group_by, since=start)
        self.stdout.write(report_csv(rows) if format == "csv" else report_table(rows), ending="")
