"""Build a package of an approved version afresh and write it to a file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coursewright.audit.actor import Actor
from coursewright.audit.models import Channel
from coursewright.courses.models import CourseVersion
from coursewright.errors import DomainError
from coursewright.publishing.models import ExportFormat


class Command(BaseCommand):
    help = "Write a package (SCORM 2004, SCORM 1.2 or HTML) of an approved course version."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("course", type=int, help="course id")
        parser.add_argument("--org", required=True, help="the course's organisation slug")
        parser.add_argument("--number", type=int, default=None,
                            help="version number (default: the newest approved or published)")
        parser.add_argument("--format", required=True, choices=ExportFormat.values)
        parser.add_argument("-o", "--output", required=True, help="where to write the .zip")

    def handle(self, *args: Any, **options: Any) -> None:
        from coursewright.publishing.actions import build_export

        output = Path(options["output"])
        if not output.parent.exists():
            raise CommandError(f"the output folder does not exist: {output.parent}")
        versions = CourseVersion.objects.filter(course_id=options["course"],
                                                org__slug=options["org"])
        if options["number"] is not None:
            version = versions.filter(number=options["number"]).first()
        else:
            version = versions.filter(state__in=["approved", "published"]).order_by(
                "-number").first()
        if version is None:
            raise CommandError(f"no such version of course {options['course']} in "
                               f"{options['org']} (exports need an approved version)")
        try:
            data = build_export(version, options["format"], actor=Actor.system(Channel.CLI))
        except DomainError as exc:
            raise CommandError(exc.message) from None
        output.write_bytes(data)
        self.stdout.write(f"Wrote {output} ({len(data):,} bytes, {options['format']}) from "
                          f"course {version.course_id} v{version.number}.")
