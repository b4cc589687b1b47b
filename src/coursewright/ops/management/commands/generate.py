"""Document in, approved package out, from the command line — the same path as the
dashboard: ingest → draft (the offline engine, or ``--provider NAME`` among those the
org's AI policy allows) → submit (as the org's author) → approval (as
the named reviewer, recorded with channel "cli") → export. The human rules hold here
too: the reviewer must hold a reviewing role and may not be the submitter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Case, IntegerField, Value, When

from coursewright.accounts.models import User
from coursewright.audit.actor import Actor
from coursewright.audit.models import Channel
from coursewright.errors import DomainError
from coursewright.orgs.models import Membership, Organisation
from coursewright.publishing.packaging import FORMATS
from coursewright.publishing.xapi_manifests import LAYOUTS


class Command(BaseCommand):
    help = "Generate a course from a document, have it approved, and write a package."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="PDF, DOCX, PPTX, Markdown, HTML or text file")
        parser.add_argument("--org", default="", help="organisation slug (default: the only "
                            "organisation, or 'demo')")
        parser.add_argument("--title", default="", help="course title (default: the document's)")
        parser.add_argument("--language", default="en", choices=["en", "de", "fr", "es"])
        parser.add_argument("--screens", type=int, default=None, help="target screen count")
        parser.add_argument("--provider", default="", metavar="NAME",
                            help="AI provider to draft with (one the org's AI policy allows; "
                            "default: the policy's order, the offline engine unless changed)")
        parser.add_argument("--export", required=True, choices=FORMATS,
                            help="package format (cmi5: a cmi5 course package; xapi: a "
                            "TinCan/xAPI package)")
        parser.add_argument("--cmi5-aus", default="course", choices=LAYOUTS,
                            help="cmi5 only: one AU for the whole course (default) or one "
                            "per module")
        parser.add_argument("-o", "--output", required=True, help="where to write the .zip")
        parser.add_argument("--approve-as", required=True, metavar="EMAIL",
                            help="the reviewer whose approval this records")
        parser.add_argument("--confirm-flagged", action="store_true",
                            help="approve even if the source check flagged sentences "
                            "(the reviewer confirms they checked them)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            self._run(options)
        except DomainError as exc:
            hint = (" Read the flagged sentences in the dashboard, or pass --confirm-flagged."
                    if exc.code == "unsupported_claims" else "")
            raise CommandError(exc.message + hint) from None

    def _run(self, options: dict[str, Any]) -> None:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        from coursewright.ai.actions import run_generation, start_generation
        from coursewright.courses import actions as course_actions
        from coursewright.ingest.actions import ingest_document
        from coursewright.publishing.actions import build_export, export_version
        from coursewright.storage import read_bytes

        source = Path(options["file"])
        if not source.is_file():
            raise CommandError(f"no such file: {source}")
        output = Path(options["output"])
        if not output.parent.exists():
            raise CommandError(f"the output folder does not exist: {output.parent}")
        org = self._org(options["org"])
        author = self._author(org)
        reviewer = User.objects.filter(email=options["approve_as"].strip().lower()).first()
        if reviewer is None or not Membership.objects.filter(org=org, user=reviewer).exists():
            raise CommandError(f"{options['approve_as']} is not a member of {org.slug}")
        as_author = Actor.person(author, Channel.CLI)

        with Progress(TextColumn("{task.description:<28}"), BarColumn(),
                      TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                      console=None, transient=False) as progress:
            task = progress.add_task("Reading the document", total=100)
            document = ingest_document(org, filename=source.name, data=source.read_bytes(),
                                       actor=as_author)
            progress.update(task, completed=10, description="Drafting the course")
            job = start_generation(document, actor=as_author, title=options["title"],
                                   language=options["language"],
                                   target_screens=options["screens"],
                                   provider=options["provider"] or None, enqueue=False)
            job = run_generation(job.pk, on_progress=lambda p, stage: progress.update(
                task, completed=10 + p * 0.8, description=stage[:28]))
            if job.course is None:
                raise CommandError(job.error or "the draft could not be generated")
            version = job.course.versions.get(number=1)
            progress.update(task, completed=92, description="Review and approval")
            version = course_actions.submit_for_review(version, actor=as_author)
            version = course_actions.approve_version(
                version, actor=Actor.person(reviewer, Channel.CLI),
                confirm_unsupported=options["confirm_flagged"])
            progress.update(task, completed=96, description="Building the package")
            if options["export"] == "cmi5" and options["cmi5_aus"] != "course":
                data = build_export(version, "cmi5", actor=as_author,
                                    cmi5_layout=options["cmi5_aus"])
            else:
                export = export_version(version, options["export"], actor=as_author)
                data = read_bytes(org, export.storage_path)
            output.write_bytes(data)
            progress.update(task, completed=100, description="Done")
        content = version.content
        self.stdout.write(
            f"Wrote {output} ({len(data):,} bytes, {options['export']}): "
            f"'{content['title']}', {len(content['screens'])} screens, course {version.course_id} "
            f"v{version.number} approved by {reviewer.email} via the command line.")

    def _org(self, slug: str) -> Organisation:
        if slug:
            org = Organisation.objects.filter(slug=slug).first()
            if org is None:
                raise CommandError(f"no organisation with the slug {slug!r}")
            return org
        orgs = list(Organisation.objects.order_by("id")[:2])
        if len(orgs) == 1:
            return orgs[0]
        demo = Organisation.objects.filter(slug="demo").first()
        if demo is None:
            raise CommandError("say which organisation with --org SLUG")
        return demo

    def _author(self, org: Organisation) -> User:
        rank = Case(When(role="author", then=Value(0)), When(role="owner", then=Value(1)),
                    default=Value(2), output_field=IntegerField())
        membership = (Membership.objects.filter(org=org, role__in=["author", "owner", "admin"])
                      .annotate(rank=rank).order_by("rank", "id").select_related("user").first())
        if membership is None:
            raise CommandError(f"{org.slug} has no author, owner or admin to write the course")
        return membership.user
