"""Delete a course, an anonymous learner's records, or a whole organisation, and print
the receipt."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from coursewright.audit.actor import Actor
from coursewright.audit.models import Channel
from coursewright.courses.models import Course
from coursewright.errors import DomainError
from coursewright.orgs.models import Organisation


class Command(BaseCommand):
    help = "Delete a course or an organisation (rows, files, and for an org its keys)."

    def add_arguments(self, parser: CommandParser) -> None:
        kinds = parser.add_subparsers(dest="kind", required=True, metavar="course|learner|org")
        course = kinds.add_parser("course", help="delete one course")
        course.add_argument("course_id", type=int)
        course.add_argument("--org", required=True, help="the course's organisation slug")
        course.add_argument("--reason", default="")
        learner = kinds.add_parser("learner", help="delete one learner's records (by the "
                                   "id the client LMS uses; we only hold its pseudonyms)")
        learner.add_argument("learner_id")
        learner.add_argument("--org", required=True, help="the organisation slug")
        learner.add_argument("--reason", default="")
        org = kinds.add_parser("org", help="delete an organisation and destroy its keys")
        org.add_argument("slug")
        org.add_argument("--yes", action="store_true",
                         help="confirm: this cannot be undone, not even from a backup")
        org.add_argument("--reason", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        from coursewright.privacy.deletion import delete_course, delete_organisation

        actor = Actor.system(Channel.CLI)
        try:
            if options["kind"] == "course":
                course = Course.objects.filter(pk=options["course_id"],
                                               org__slug=options["org"]).first()
                if course is None:
                    raise CommandError(f"no course {options['course_id']} in {options['org']}")
                receipt = delete_course(course, actor=actor, reason=options["reason"])
            elif options["kind"] == "learner":
                from coursewright.privacy.learners import delete_learner

                owner = Organisation.objects.filter(slug=options["org"]).first()
                if owner is None:
                    raise CommandError(f"no organisation with the slug {options['org']!r}")
                receipt = delete_learner(owner, options["learner_id"], actor=actor,
                                         reason=options["reason"])
            else:
                org = Organisation.objects.filter(slug=options["slug"]).first()
                if org is None:
                    raise CommandError(f"no organisation with the slug {options['slug']!r}")
                if not options["yes"]:
                    raise CommandError("deleting an organisation cannot be undone; "
                                       "add --yes to confirm")
                receipt = delete_organisation(org, actor=actor, confirm=org.slug,
                                              reason=options["reason"])
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(json.dumps(receipt.as_json(), indent=2))
