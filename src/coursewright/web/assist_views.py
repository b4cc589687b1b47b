"""The dashboard page where reviewers see the AI's grades of learners' free-text answers
and set the final score (the page side of ``assist.api``'s gradings endpoints).

Who: reviewers, admins and owners — the roles ``assist.actions.check_can_review_grading``
accepts. Authors get the 403 page: the list shows learners' answers, and the API refuses
them the same list. Someone outside the organisation gets a 404 (``org_view``, then
``get_scoped``), as on every dashboard page.

What is shown of a learner: only the first eight characters of ``learner_ref`` (itself a
hash of the player's random session id), enough to tell that two answers came from the
same session and nothing more. Answers are learner content: every render of the list
writes a ``grading_records.read`` audit row, as the API does. An override is
``assist.actions.review_grading``, which checks the role again, validates and writes
``assist.grading_reviewed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q
from django.http import HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from coursewright.ai.config import get_provider
from coursewright.assist.actions import MAX_NOTE, review_grading
from coursewright.assist.models import GradingRecord, GradingStatus
from coursewright.audit.actions import record_read
from coursewright.courses.content import LANGUAGES
from coursewright.courses.models import Course, CourseVersion
from coursewright.courses.rendering import render_markdown
from coursewright.errors import Invalid
from coursewright.orgs.access import get_scoped
from coursewright.orgs.models import REVIEWING_ROLES
from coursewright.player.render import load_strings
from coursewright.web.access import OrgRequest, org_view, web_actor

PAGE_SIZE = 25
LEARNER_REF_SHOWN = 8
# ?show=: the review queue (the default) or every record
SHOW_PENDING, SHOW_ALL = "pending", "all"
# review_grading's refusals, by the form field they are about
FIELD_FOR_CODE = {"bad_score": "score", "note_too_long": "note"}


class ReviewGradingForm(forms.Form):
    """The final score and an optional note for one record. The range is checked here
    to show it at the field; ``review_grading`` checks it again."""

    note = forms.CharField(
        label="Note (optional)", required=False, max_length=MAX_NOTE, strip=True,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"Why you confirmed or changed the grade. At most {MAX_NOTE} characters. "
                  "Kept with the record and in the audit log; the learner does not see it.")

    def __init__(self, *args: Any, record: GradingRecord, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        kwargs["prefix"] = f"grading-{record.pk}"
        super().__init__(*args, **kwargs)
        self.record = record
        out_of_range = f"The score must be between 0 and {record.max_score}."
        self.fields["score"] = forms.IntegerField(
            label=f"Final score (0 to {record.max_score})", min_value=0,
            max_value=record.max_score,
            help_text=f"The AI gave {record.ai_score} of {record.max_score}.",
            error_messages={"required": "Enter the final score.",
                            "invalid": "Enter the final score as a whole number.",
                            "min_value": out_of_range, "max_value": out_of_range})
        self.order_fields(["score", "note"])

    @classmethod
    def for_record(cls, record: GradingRecord) -> ReviewGradingForm:
        return cls(record=record, initial={"score": record.score,
                                           "note": record.review_note or ""})


@dataclass
class Verdict:
    text: str
    points: int | None
    met: bool
    justification: str


@dataclass
class GradingRow:
    record: GradingRecord
    version_number: int
    screen_title: str
    question: SafeString | None
    learner: str
    verdicts: list[Verdict]
    provider: str
    form: ReviewGradingForm


@dataclass
class Listing:
    """Which part of the list is shown; carried through a review so it returns there."""

    show: str
    page: str

    @classmethod
    def from_query(cls, query: QueryDict) -> Listing:
        show = query.get("show", SHOW_PENDING)
        page = query.get("page", "1")
        return cls(show=show if show in (SHOW_PENDING, SHOW_ALL) else SHOW_PENDING,
                   page=page if page.isdigit() and len(page) < 8 else "1")

    def url(self, org_slug: str, course_id: int) -> str:
        query = QueryDict(mutable=True)
        query["show"] = self.show
        if self.page != "1":
            query["page"] = self.page
        return f"{reverse('web:gradings', args=[org_slug, course_id])}?{query.urlencode()}"


def _course(request: OrgRequest, course_id: int) -> Course:
    course = get_scoped(Course, request.principal, pk=course_id, org=request.org)
    request.principal.require(request.org, REVIEWING_ROLES, "review AI grades")
    return course


def _questions(version: CourseVersion) -> dict[str, tuple[str, dict[str, Any]]]:
    """The version's blocks by id, with the title of the screen each is on."""
    return {block["id"]: (screen.get("title", ""), block)
            for screen in (version.content or {}).get("screens", [])
            for block in screen.get("blocks", []) if "id" in block}


def _safe(html: str) -> SafeString:
    # render_markdown's output is sanitised by nh3 with a small allow-list.
    return mark_safe(html)


def _row(record: GradingRecord, version: CourseVersion,
         blocks: dict[str, tuple[str, dict[str, Any]]],
         form: ReviewGradingForm | None) -> GradingRow:
    screen_title, block = blocks.get(record.block_id, ("", {}))
    rubric = {c.get("id"): c for c in block.get("rubric", [])}
    verdicts = []
    for verdict in (record.result or {}).get("criteria", []):
        criterion = rubric.get(verdict.get("id"), {})
        verdicts.append(Verdict(text=criterion.get("text") or str(verdict.get("id", "")),
                                points=criterion.get("points"),
                                met=bool(verdict.get("met")),
                                justification=str(verdict.get("justification", ""))))
    config = get_provider(record.provider)
    prompt = block.get("prompt")
    return GradingRow(
        record=record, version_number=version.number, screen_title=screen_title,
        question=_safe(render_markdown(prompt)) if prompt else None,
        learner=record.learner_ref[:LEARNER_REF_SHOWN], verdicts=verdicts,
        provider=config.display if config else record.provider,
        form=form if form is not None else ReviewGradingForm.for_record(record))


def _rows(records: list[GradingRecord], failed: ReviewGradingForm | None) -> list[GradingRow]:
    # One query (and one decryption) per version on the page, not per record.
    versions = {v.pk: v for v in CourseVersion.objects.filter(
        pk__in={r.version_id for r in records}).only("id", "number", "content")}
    blocks = {pk: _questions(v) for pk, v in versions.items()}
    return [_row(r, versions[r.version_id], blocks[r.version_id],
                 failed if failed is not None and failed.record.pk == r.pk else None)
            for r in records]


def _gradings_page(request: OrgRequest, course: Course, listing: Listing, *,
                   failed: ReviewGradingForm | None = None, status: int = 200) -> HttpResponse:
    records = GradingRecord.objects.filter(org=request.org, course=course)
    counts = records.aggregate(
        total=Count("id"), pending=Count("id", filter=Q(status=GradingStatus.AI_GRADED)))
    if listing.show == SHOW_PENDING:
        records = records.filter(status=GradingStatus.AI_GRADED)
    page: Page[GradingRecord] = Paginator(
        records.select_related("reviewed_by").order_by("-created_at", "-id"),
        PAGE_SIZE).get_page(listing.page)
    shown = list(page.object_list)
    if failed is not None and all(r.pk != failed.record.pk for r in shown):
        # reviewed by someone else meanwhile, say: keep the refused form in sight
        shown.insert(0, failed.record)
    record_read(org=request.org, actor=web_actor(request), object_type="grading_records",
                object_id=course.pk,
                details={"status": GradingStatus.AI_GRADED.value
                         if listing.show == SHOW_PENDING else None,
                         "page": page.number, "records": len(shown)})
    # the player's own words, in the language the learner saw them in
    language = course.language if course.language in LANGUAGES else "en"
    strings, english = load_strings(language), load_strings("en")
    return render(request, "web/gradings.html", {
        "course": course, "page": page, "rows": _rows(shown, failed),
        "show": listing.show, "page_number": page.number,
        "total": counts["total"], "pending": counts["pending"],
        "learner_language": language,
        "learner_notice": strings["free_text_ai_notice"],
        "learner_note": strings["free_text_graded_note"],
        "learner_notice_en": english["free_text_ai_notice"],
        "learner_note_en": english["free_text_graded_note"],
    }, status=status)


@org_view()
@require_GET
def gradings(request: OrgRequest, course_id: int) -> HttpResponse:
    course = _course(request, course_id)
    return _gradings_page(request, course, Listing.from_query(request.GET))


@org_view()
@require_POST
def review_grading_view(request: OrgRequest, course_id: int, grading_id: int) -> HttpResponse:
    course = _course(request, course_id)
    record = get_scoped(GradingRecord, request.principal, pk=grading_id, org=request.org,
                        course=course)
    listing = Listing.from_query(request.POST)
    form = ReviewGradingForm(request.POST, record=record)
    if form.is_valid():
        score, note = form.cleaned_data["score"], form.cleaned_data["note"] or ""
        try:
            review_grading(record, actor=web_actor(request), score=score, note=note)
        except Invalid as exc:
            form.add_error(FIELD_FOR_CODE.get(exc.code), exc.message)
        else:
            messages.success(
                request, f"Final score saved: {score} of {record.max_score} for the answer "
                         f"of learner {record.learner_ref[:LEARNER_REF_SHOWN]} (the AI gave "
                         f"{record.ai_score}).")
            return redirect(listing.url(request.org.slug, course.pk))
    return _gradings_page(request, course, listing, failed=form, status=422)


patterns: list[URLPattern] = [
    path("o/<slug:org_slug>/courses/<int:course_id>/gradings/", gradings, name="gradings"),
    path("o/<slug:org_slug>/courses/<int:course_id>/gradings/<int:grading_id>/review/",
         review_grading_view, name="review_grading"),
]
