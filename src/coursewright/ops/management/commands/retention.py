"""Show or apply retention rules."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coursewright.orgs.models import Organisation


class Command(BaseCommand):
    help = "Apply retention rules now (the daily job does this at 02:30 UTC) or show them."

    def add_arguments(self, parser: CommandParser) -> None:
        verbs = parser.add_subparsers(dest="verb", required=True, metavar="purge|show")
        purge = verbs.add_parser("purge", help="apply the rules now")
        purge.add_argument("--org", default="", help="only this organisation")
        show = verbs.add_parser("show", help="print an organisation's rules")
        show.add_argument("org")

    def handle(self, *args: Any, **options: Any) -> None:
        from coursewright.privacy.retention import policy, purge_all, purge_org

        if options["verb"] == "show":
            org = self._org(options["org"])
            self.stdout.write(json.dumps(policy(org), indent=2))
            return
        if options["org"]:
            report = {options["org"]: purge_org(self._org(options["org"]))}
        else:
            report = purge_all()
        self.stdout.write(json.dumps(report, indent=2))

    @staticmethod
    def _org(slug: str) -> Organisation:
        org = Organisation.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"no organisation with the slug {slug!r}")
        return org
