"""Dashboard pages of the course flow: upload → generation job → course → version →
screen editor → review → publish → download.

Every organisation page goes through ``org_view`` (membership by slug, two-factor) and
fetches objects only with ``get_scoped(..., org=request.org)``, so an object of another
organisation — or of another of the person's own organisations under this slug — is a
404. Role checks use ``principal.require``, whose ``Forbidden`` ``org_view`` shows as a
friendly 403 page. A POST validates a form, calls one action, adds a message and
redirects; the actions decide what is allowed (who may approve, what may change), the
pages only hide buttons that would be refused anyway.

The AI forms (draft with a chosen provider, draft from a brief, redraft, refine, add
questions, translate) offer only what the organisation's AI policy allows (``_ai_offer``).
The gateway decides again on every request; its refusals (``AiBlocked``: the policy, the
region lock; ``AiFailed``: every provider failed) come back on the page with their reason
and status, never as a server error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib import messages
from django.db.models import Prefetch, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from coursewright.ai.config import ProviderConfig
from coursewright.ai.config import providers as configured_providers
from coursewright.ai.models import FEATURES, GenerationJob, JobStatus
from coursewright.ai.policy import FEATURE_LABELS, feature_enabled, get_policy
from coursewright.audit.models import AuditEvent, Channel
from coursewright.courses import actions
from coursewright.courses.content import (
    Block,
    CalloutBlock,
    HeadingBlock,
    ImageBlock,
    Screen,
    TextBlock,
)
from coursewright.courses.grounding import REASONS
from coursewright.courses.models import Asset, Course, CourseVersion, ReviewComment, VersionState
from coursewright.courses.rendering import render_markdown
from coursewright.errors import Conflict, DomainError, Invalid, NotFound
from coursewright.ingest.models import Document, DocumentChunk
from coursewright.orgs.access import get_scoped, scoped
from coursewright.orgs.models import (
    AUTHORING_ROLES,
    MANAGING_ROLES,
    REVIEWING_ROLES,
    Membership,
    Organisation,
)
from coursewright.publishing.models import ExportFormat
from coursewright.web.access import OrgRequest, org_view, web_actor
from coursewright.web.forms import (
    LANGUAGE_NAMES,
    ApproveForm,
    BriefForm,
    Form,
    ImageBlockForm,
    QuestionsForm,
    RefineForm,
    RegenerateScreenForm,
    RejectForm,
    ScreenForm,
    TranslateForm,
    UploadForm,
    screen_without_provenance,
)

if TYPE_CHECKING:
    from django.utils.safestring import SafeString


S = VersionState
EXPORTABLE = (S.APPROVED, S.PUBLISHED)



def _require(request: OrgRequest, roles: frozenset[str], doing: str) -> None:
    request.principal.require(request.org, roles, doing)


def _version(request: OrgRequest, version_id: int) -> CourseVersion:
    return get_scoped(CourseVersion, request.principal, pk=version_id, org=request.org)


def _safe(html: str) -> SafeString:
    from django.utils.safestring import mark_safe

    # render_markdown's output is sanitised by nh3 with a small allow-list.
    return mark_safe(html)


# --- home and dashboard ----------------------------------------------------------------


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect(settings.LOGIN_URL)
    membership = (Membership.objects.filter(user=request.user).select_related("org")
                  .order_by("org__name", "org_id").first())
    if membership is None:
        return render(request, "web/no_org.html")
    return redirect("web:dashboard", membership.org.slug)


@dataclass
class CourseRow:
    course: Course
    latest: CourseVersion | None
    published: CourseVersion | None


@org_view()
@require_GET
def dashboard(request: OrgRequest) -> HttpResponse:
    courses = scoped(Course, request.principal).filter(org=request.org).prefetch_related(
        Prefetch("versions", queryset=CourseVersion.objects.order_by("-number")))
    rows = []
    for course in courses:
        versions = list(course.versions.all())
        rows.append(CourseRow(course, versions[0] if versions else None,
                              next((v for v in versions if v.state == S.PUBLISHED), None)))
    documents = (scoped(Document, request.principal).filter(org=request.org)
                 .order_by("-id").prefetch_related(
                     Prefetch("generation_jobs", queryset=GenerationJob.objects.order_by("-id")))
                 [:10])
    can_author = request.role in AUTHORING_ROLES
    offer = _ai_offer(request.org) if can_author else None
    return render(request, "web/dashboard.html", {
        "rows": rows, "documents": documents, "can_author": can_author,
        "form": UploadForm(providers=offer.providers) if offer else None,
        "generate_on": offer is not None and offer.on("generate"),
        "can_manage_ai": request.role in MANAGING_ROLES,
    })


# --- upload and generation -------------------------------------------------------------


@dataclass
class AiOffer:
    """What the organisation's AI policy offers a page: the providers it may use here
    (configured on this server, processing its region, in the policy's order) and
    whether a feature is on. The gateway checks the policy again on every request."""

    providers: list[ProviderConfig]
    features: dict[str, bool]

    @property
    def models(self) -> list[ProviderConfig]:
        """The AI model providers: everything but the offline engine, which cannot take
        a prompt (a brief, an instruction, a rewrite)."""
        return [p for p in self.providers if not p.is_offline]

    def on(self, feature: str) -> bool:
        return bool(self.features.get(feature, True))


def _ai_offer(org: Organisation) -> AiOffer:
    policy = get_policy(org)
    known = configured_providers()
    usable = [known[name] for name in policy.providers
              if name in known and org.region in known[name].regions]
    return AiOffer(usable, {f: feature_enabled(policy, f) for f in FEATURES})


PROVIDER_REFUSALS = frozenset({"provider_not_allowed", "unknown_provider", "region_lock",
                               "no_provider"})


def _refused_on(form: Form, exc: DomainError, message: str = "") -> None:
    """Show an action's refusal on the form: at the provider select when it is about the
    provider and the form has one, else above the fields."""
    field = "provider" if exc.code in PROVIDER_REFUSALS and "provider" in form.fields else None
    form.add_error(field, message or exc.message)


def _create_page(request: OrgRequest, *, form: UploadForm | None = None,
                 brief_form: BriefForm | None = None, status: int = 200) -> HttpResponse:
    """The two ways to a draft: upload a document, or describe the course (a brief)."""
    offer = _ai_offer(request.org)
    generate_on = offer.on("generate")
    for bound, shown in ((form, generate_on), (brief_form, generate_on and offer.models)):
        if bound is not None and not shown:
            # the page explains why there is no form; add the refusal this request got
            refusals = [*bound.non_field_errors(), *bound.errors.get("provider", [])]
            for error in refusals:
                messages.error(request, str(error))
    if brief_form is None and offer.models:
        brief_form = BriefForm(providers=offer.models)
    return render(request, "web/upload.html", {
        "form": form or UploadForm(providers=offer.providers),
        "brief_form": brief_form if offer.models else None,
        "generate_on": generate_on,
        "can_manage_ai": request.role in MANAGING_ROLES,
    }, status=status)


@org_view()
@require_http_methods(["GET", "POST"])
def upload(request: OrgRequest) -> HttpResponse:
    _require(request, AUTHORING_ROLES, "upload documents")
    if request.method != "POST":
        return _create_page(request)
    form = UploadForm(request.POST, request.FILES,
                      providers=_ai_offer(request.org).providers)
    if not form.is_valid():
        return _create_page(request, form=form, status=422)
    from coursewright.ai.actions import start_generation
    from coursewright.ingest.actions import ingest_document

    name, data = form.read_file()
    actor = web_actor(request)
    try:
        document = ingest_document(request.org, filename=name, data=data, actor=actor)
    except DomainError as exc:
        form.add_error("file", exc.message)
        return _create_page(request, form=form, status=exc.status)
    try:
        job = start_generation(document, actor=actor, title=form.cleaned_data["title"],
                               language=form.cleaned_data["language"],
                               target_screens=form.cleaned_data["target_screens"],
                               provider=form.provider)
    except DomainError as exc:
        # refused before anything was sent (the AI policy, usually); the document is kept
        _refused_on(form, exc, f"{exc.message} “{document.filename}” was uploaded, but no "
                               "draft was started.")
        return _create_page(request, form=form, status=exc.status)
    messages.success(request, f"“{document.filename}” uploaded. Drafting the course now.")
    return redirect("web:job", request.org.slug, job.pk)


@org_view()
@require_POST
def draft_from_brief(request: OrgRequest) -> HttpResponse:
    _require(request, AUTHORING_ROLES, "draft courses")
    offer = _ai_offer(request.org)
    form = BriefForm(request.POST, providers=offer.models)
    if not form.is_valid():
        return _create_page(request, brief_form=form, status=422)
    from coursewright.ai.actions import start_generation

    data = form.cleaned_data
    try:
        job = start_generation(None, org=request.org, actor=web_actor(request),
                               brief=data["brief"], title=data["title"],
                               language=data["language"], target_screens=data["target_screens"],
                               provider=form.provider)
    except DomainError as exc:
        _refused_on(form, exc)
        return _create_page(request, brief_form=form, status=exc.status)
    messages.success(request, f"Drafting “{data['title']}” from your brief now.")
    return redirect("web:job", request.org.slug, job.pk)


def _job_state(request: OrgRequest, job: GenerationJob) -> dict[str, Any]:
    course_url = (reverse("web:course", args=[request.org.slug, job.course_id])
                  if job.course_id is not None else None)
    return {"id": job.pk, "status": job.status, "status_label": job.get_status_display(),
            "progress": job.progress, "stage": job.stage, "error": job.error,
            "done": job.status in (JobStatus.SUCCEEDED, JobStatus.FAILED),
            "course_url": course_url}


@org_view()
@require_GET
def job(request: OrgRequest, job_id: int) -> HttpResponse:
    job = get_scoped(GenerationJob, request.principal, pk=job_id, org=request.org)
    document = job.document  # none for a draft from a brief
    name = job.title or (document.title or document.filename if document else "a new course")
    return render(request, "web/job.html", {"job": job, "name": name,
                                            "state": _job_state(request, job)})


@org_view()
@require_GET
def job_status(request: OrgRequest, job_id: int) -> HttpResponse:
    job = get_scoped(GenerationJob, request.principal, pk=job_id, org=request.org)
    return JsonResponse(_job_state(request, job))


# --- course ----------------------------------------------------------------------------

AUDIT_LABELS = {
    "course.created": "created the course",
    "version.screen_edited": "edited a screen",
    "version.title_edited": "changed the title",
    "version.draft_started": "started a new draft",
    "version.submitted": "submitted for review",
    "version.approved": "approved",
    "version.flag_resolved": "marked a flagged sentence as checked",
    "version.grounding_checked": "re-ran the source check",
    "version.rejected": "sent back to draft",
    "version.published": "published",
    "export.downloaded": "downloaded a package",
}


@dataclass
class VersionRow:
    version: CourseVersion
    comments: list[ReviewComment]
    can_edit: bool
    can_review: bool
    can_publish: bool
    can_export: bool
    approved_via: str
    reject_form: RejectForm | None = None


@dataclass
class AuditRow:
    event: AuditEvent
    label: str
    version_number: int | None


def _course_page(request: OrgRequest, course: Course,
                 reject_form: RejectForm | None = None, status: int = 200) -> HttpResponse:
    versions = list(course.versions.order_by("-number").select_related("approved_by")
                    .prefetch_related(Prefetch(
                        "comments", queryset=ReviewComment.objects.select_related("author"))))
    can_author = request.role in AUTHORING_ROLES
    can_review = request.role in REVIEWING_ROLES
    rows = []
    for v in versions:
        reviewable = (v.state == S.IN_REVIEW and can_review
                      and v.submitted_by_id != request.user.pk)
        form = None
        if reviewable:
            prefix = f"reject-{v.pk}"
            form = reject_form if reject_form is not None and reject_form.prefix == prefix \
                else RejectForm(prefix=prefix)
        rows.append(VersionRow(
            version=v, comments=list(v.comments.all()),
            can_edit=can_author and v.state == S.DRAFT, can_review=reviewable,
            can_publish=v.state == S.APPROVED, can_export=v.state in EXPORTABLE,
            approved_via=Channel(v.approved_via).label if v.approved_via else "",
            reject_form=form))
    numbers = {str(v.pk): v.number for v in versions}
    events = (AuditEvent.objects.filter(org=request.org)
              .filter(Q(object_type="course", object_id=str(course.pk))
                      | Q(object_type="course_version", object_id__in=list(numbers)))
              .order_by("-id")[:20])
    audit = [AuditRow(e, AUDIT_LABELS.get(e.action, e.action), numbers.get(e.object_id)
                      if e.object_type == "course_version" else None) for e in events]
    states = {v.state for v in versions}
    return render(request, "web/course.html", {
        "course": course, "rows": rows, "audit": audit,
        "can_start_draft": can_author and not states & {S.DRAFT, S.IN_REVIEW},
        "can_delete": can_author,
        "formats": ExportFormat.choices,
    }, status=status)


@org_view()
@require_GET
def course(request: OrgRequest, course_id: int) -> HttpResponse:
    course = get_scoped(Course, request.principal, pk=course_id, org=request.org)
    return _course_page(request, course)


@org_view()
@require_POST
def new_draft(request: OrgRequest, course_id: int) -> HttpResponse:
    course = get_scoped(Course, request.principal, pk=course_id, org=request.org)
    _require(request, AUTHORING_ROLES, "edit courses")
    version = actions.start_new_draft(course, actor=web_actor(request))
    messages.success(request, f"Version {version.number} is a draft you can edit.")
    return redirect("web:version", request.org.slug, version.pk)


@org_view()
@require_POST
def delete_course_view(request: OrgRequest, course_id: int) -> HttpResponse:
    from coursewright.privacy.deletion import delete_course

    course = get_scoped(Course, request.principal, pk=course_id, org=request.org)
    _require(request, AUTHORING_ROLES, "delete courses")
    if request.POST.get("confirm") != "yes":
        messages.error(request, "Tick the box to confirm that the course should be deleted.")
        return _course_page(request, course, status=422)
    receipt = delete_course(course, actor=web_actor(request),
                            reason=request.POST.get("reason", "")[:500])
    messages.success(request, f"The course was deleted: {receipt.counts['versions']} "
                              f"version(s) and {receipt.files_deleted} file(s) removed. The "
                              "receipt is in the audit log.")
    return redirect("web:dashboard", request.org.slug)


def _record_read(request: OrgRequest, version: CourseVersion, **details: str) -> None:
    from coursewright.audit.actions import record_read

    record_read(org=request.org, actor=web_actor(request), object_type="course_version",
                object_id=version.pk, details=details or None)


def _back_to_course(request: OrgRequest, version: CourseVersion, message: str) -> HttpResponse:
    messages.success(request, message)
    return redirect("web:course", request.org.slug, version.course_id)


@org_view()
@require_POST
def submit(request: OrgRequest, version_id: int) -> HttpResponse:
    version = _version(request, version_id)
    _require(request, AUTHORING_ROLES, "submit courses for review")
    version = actions.submit_for_review(version, actor=web_actor(request))
    return _back_to_course(request, version, f"Version {version.number} was submitted for "
                                             "review. A reviewer can now approve it.")


@org_view()
@require_POST
def approve(request: OrgRequest, version_id: int) -> HttpResponse:
    version = _version(request, version_id)
    form = ApproveForm(request.POST, open_flags=len(version.open_flags))
    confirmed = form.is_valid() and bool(form.cleaned_data["confirm_unsupported"])
    try:
        # the action decides (state, reviewer, flags); an unticked box only shows here
        version = actions.approve_version(version, actor=web_actor(request),
                                          confirm_unsupported=confirmed)
    except Conflict as exc:
        if exc.code != "unsupported_claims":
            raise
        open_now = next((d.get("open_flags", 0) for d in exc.details), 0)
        form = ApproveForm(request.POST, open_flags=max(1, open_now))
        if form.is_valid():  # ticked for a count that has changed since
            form.add_error("confirm_unsupported", exc.message)
        return _version_page(request, version, approve_form=form, status=422)
    return _back_to_course(request, version, f"Version {version.number} is approved. It can "
                                             "now be published and downloaded.")


@org_view()
@require_POST
def reject(request: OrgRequest, version_id: int) -> HttpResponse:
    version = _version(request, version_id)
    form = RejectForm(request.POST, prefix=f"reject-{version.pk}")
    if not form.is_valid():
        actions.check_can_review(version, web_actor(request))
        return _course_page(request, version.course, reject_form=form, status=422)
    version = actions.reject_version(version, actor=web_actor(request),
                                     comment=form.cleaned_data["comment"])
    return _back_to_course(request, version, f"Version {version.number} was sent back to "
                                             "draft with your comment.")


@org_view()
@require_POST
def publish(request: OrgRequest, version_id: int) -> HttpResponse:
    version = _version(request, version_id)
    version = actions.publish_version(version, actor=web_actor(request))
    return _back_to_course(request, version, f"Version {version.number} is published.")


@org_view()
@require_GET
def export(request: OrgRequest, version_id: int, fmt: str) -> HttpResponse:
    from coursewright.publishing.actions import export_filename, export_version
    from coursewright.storage import read_bytes

    version = _version(request, version_id)
    if fmt not in ExportFormat.values:
        raise NotFound("no such format")
    package = export_version(version, fmt, actor=web_actor(request))
    response = HttpResponse(read_bytes(request.org, package.storage_path),
                            content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(version, fmt)}"'
    return response


@org_view()
@require_GET
def image(request: OrgRequest, course_id: int, sha256: str) -> HttpResponse:
    from coursewright.storage import read_bytes

    asset = get_scoped(Asset, request.principal, course_id=course_id, sha256=sha256,
                       org=request.org)
    return HttpResponse(read_bytes(request.org, asset.storage_path),
                        content_type=asset.content_type)


# --- reading a version -----------------------------------------------------------------


@dataclass
class SourceView:
    chunk_id: str
    section: str
    page: int | None
    html: SafeString


@dataclass
class FlagView:
    """A sentence the grounding check flagged, as the review page shows it."""

    id: str
    screen_number: int
    block_id: str
    sentence: str
    reason: str
    label: str
    percent: int
    missing: list[str]
    resolved_by: str

    @classmethod
    def of(cls, data: dict[str, Any], screen_number: int) -> FlagView:
        reason = str(data.get("reason", ""))
        return cls(id=str(data["id"]), screen_number=screen_number,
                   block_id=str(data["block_id"]), sentence=str(data["sentence"]),
                   reason=reason, label=REASONS.get(reason, reason),
                   percent=round(float(data.get("score", 0)) * 100),
                   missing=[str(m) for m in data.get("missing", [])],
                   resolved_by=str(data.get("resolved_by") or "")
                   if data.get("resolved_at") else "")

    @property
    def resolved(self) -> bool:
        return bool(self.resolved_by)


@dataclass
class BlockView:
    block: Block
    badge: str
    html: SafeString | None = None
    feedback_correct: SafeString | None = None
    feedback_incorrect: SafeString | None = None
    image_url: str = ""
    heading_tag: str = ""
    sources: list[SourceView] = field(default_factory=list)
    missing_sources: list[str] = field(default_factory=list)
    flags: list[FlagView] = field(default_factory=list)

    # The first passages are shown; the rest fold away so long citations stay readable.
    SHOWN = 2

    @property
    def shown_sources(self) -> list[SourceView]:
        return self.sources[:self.SHOWN]

    @property
    def folded_sources(self) -> list[SourceView]:
        return self.sources[self.SHOWN:]


@dataclass
class ScreenView:
    screen: Screen
    number: int
    blocks: list[BlockView]
    redraft_form: RegenerateScreenForm | None = None


def _block_view(request: OrgRequest, course: Course, block: Block,
                chunks: dict[str, DocumentChunk]) -> BlockView:
    p = block.provenance
    badge = ("AI, edited" if p.edited else "AI draft") if p.kind == "ai" else ""
    view = BlockView(block=block, badge=badge)
    if isinstance(block, HeadingBlock):
        view.heading_tag = f"h{min(block.level + 1, 6)}"
    elif isinstance(block, TextBlock | CalloutBlock):
        view.html = _safe(render_markdown(block.markdown))
    elif isinstance(block, ImageBlock):
        view.image_url = reverse("web:image", args=[request.org.slug, course.pk, block.asset])
    else:
        view.html = _safe(render_markdown(block.prompt))
        view.feedback_correct = _safe(render_markdown(block.feedback.correct))
        view.feedback_incorrect = _safe(render_markdown(block.feedback.incorrect))
    if p.kind == "ai":
        for chunk_id in p.sources:
            chunk = chunks.get(chunk_id)
            if chunk is None:
                view.missing_sources.append(chunk_id)
            else:
                view.sources.append(SourceView(
                    chunk_id=chunk_id, section=" › ".join(map(str, chunk.section_path)),
                    page=chunk.page, html=_safe(render_markdown(chunk.text))))
    return view


@org_view()
@require_http_methods(["GET", "POST"])
def version(request: OrgRequest, version_id: int) -> HttpResponse:
    """The review page. A POST marks one flagged sentence as checked (reviewers)."""
    version = _version(request, version_id)
    if request.method == "POST":
        flag_id = request.POST.get("flag", "")
        actions.resolve_flag(version, flag_id, actor=web_actor(request))
        messages.success(request, "The sentence is marked as checked against its source.")
        url = reverse("web:version", args=[request.org.slug, version.pk])
        return redirect(f"{url}#flag-{flag_id}")  # an id the action found on the version
    return _version_page(request, version)


def _version_page(request: OrgRequest, version: CourseVersion,
                  approve_form: ApproveForm | None = None, ai_form: Form | None = None,
                  status: int = 200) -> HttpResponse:
    _record_read(request, version)
    course = version.course
    content = actions.validate_content(version.content)
    cited = {s for screen in content.screens for b in screen.blocks
             for s in b.provenance.sources}
    chunks: dict[str, DocumentChunk] = {}
    if cited and course.source_document_id is not None:
        chunks = {c.chunk_id: c for c in DocumentChunk.objects.filter(
            org=request.org, document_id=course.source_document_id, chunk_id__in=cited)}
    numbers = {b.id: n for n, screen in enumerate(content.screens, start=1)
               for b in screen.blocks}
    flags = [FlagView.of(f, numbers.get(str(f["block_id"]), 0))
             for f in version.grounding_flags]
    screens = [ScreenView(screen, n, [_block_view(request, course, b, chunks)
                                      for b in screen.blocks])
               for n, screen in enumerate(content.screens, start=1)]
    for screen_view in screens:
        for block_view in screen_view.blocks:
            block_view.flags = [f for f in flags if f.block_id == block_view.block.id]
    open_flags = [f for f in flags if not f.resolved]
    reviewer = (request.role in REVIEWING_ROLES
                and version.submitted_by_id != request.user.pk)
    can_approve = reviewer and version.state == S.IN_REVIEW
    if can_approve and approve_form is None:
        approve_form = ApproveForm(open_flags=len(open_flags))
    ai_tools = (_ai_tools(request, version, content.language, screens, ai_form)
                if request.role in AUTHORING_ROLES else None)
    return render(request, "web/version.html", {
        "version": version, "course": course, "content": content, "screens": screens,
        "can_edit": version.state == S.DRAFT and request.role in AUTHORING_ROLES,
        "grounding_checked": version.grounding is not None, "flags": flags,
        "open_flags": open_flags,
        "can_resolve": reviewer and version.state in (S.DRAFT, S.IN_REVIEW),
        "approve_form": approve_form if can_approve else None,
        "ai_tools": ai_tools,
        "can_manage_ai": request.role in MANAGING_ROLES,
    }, status=status)


# --- the AI tools of a version ----------------------------------------------------------

DRAFT_TOOLS = ("regenerate_screen", "refine", "quiz")
RELEASED_TOOLS = ("translate",)


@dataclass
class AiTools:
    """The AI tools the version page offers an author: for a draft, redraft a screen,
    refine and add questions; for an approved or published version, translate it into
    a new draft. Only the features the policy has on; with no AI model provider allowed,
    the page says why instead of showing the forms."""

    editable: bool
    providers: list[ProviderConfig]
    off: list[str]
    redraft: bool = False
    refine: RefineForm | None = None
    questions: QuestionsForm | None = None
    translate: TranslateForm | None = None
    open_version: CourseVersion | None = None

    @property
    def provider_names(self) -> list[str]:
        return [p.display for p in self.providers]


def _ai_tools(request: OrgRequest, version: CourseVersion, language: str,
              screens: list[ScreenView], bound: Form | None) -> AiTools | None:
    """``bound``: a submitted form to show again with its errors, in place of a new one."""
    features: tuple[str, ...]
    if version.state == S.DRAFT:
        features = DRAFT_TOOLS
    elif version.state in EXPORTABLE:
        features = RELEASED_TOOLS
    else:
        return None
    offer = _ai_offer(request.org)
    on = [f for f in features if offer.on(f)]
    if not on:
        return None
    models = offer.models
    tools = AiTools(editable=version.state == S.DRAFT, providers=models,
                    off=[FEATURE_LABELS.get(f, f) for f in features if f not in on])
    if not models:
        return tools
    choices = [(s.screen.id, f"Screen {s.number}: {s.screen.title}") for s in screens]
    if "regenerate_screen" in on:
        tools.redraft = True
        for s in screens:
            prefix = f"redraft-{s.screen.id}"
            s.redraft_form = (bound if isinstance(bound, RegenerateScreenForm)
                              and bound.prefix == prefix
                              else RegenerateScreenForm(prefix=prefix, providers=models))
    if "refine" in on:
        tools.refine = (bound if isinstance(bound, RefineForm)
                        else RefineForm(screens=choices, providers=models))
    if "quiz" in on:
        tools.questions = (bound if isinstance(bound, QuestionsForm)
                           else QuestionsForm(screens=choices, providers=models))
    if "translate" in on:
        tools.open_version = (version.course.versions.filter(state__in=[S.DRAFT, S.IN_REVIEW])
                              .order_by("-number").first())
        tools.translate = (bound if isinstance(bound, TranslateForm)
                           else TranslateForm(current=language, providers=models))
    return tools


def _ai_version(request: OrgRequest, version_id: int) -> tuple[CourseVersion, AiOffer]:
    version = _version(request, version_id)
    _require(request, AUTHORING_ROLES, "use the AI tools")
    return version, _ai_offer(request.org)


def _screen_choices(version: CourseVersion) -> list[tuple[str, str]]:
    content = actions.validate_content(version.content)
    return [(s.id, f"Screen {n}: {s.title}") for n, s in enumerate(content.screens, start=1)]


def _ai_refused(request: OrgRequest, version: CourseVersion, exc: DomainError) -> HttpResponse:
    """The action refused or the providers failed: the page again, saying why."""
    messages.error(request, exc.message)
    return _version_page(request, version, status=exc.status)


@org_view()
@require_POST
def ai_redraft_screen(request: OrgRequest, version_id: int, screen_id: str) -> HttpResponse:
    from coursewright.ai.actions import ai_edit
    from coursewright.ai.gateway import AiBlocked, AiFailed

    version, offer = _ai_version(request, version_id)
    screen = _screen(version, screen_id)
    form = RegenerateScreenForm(request.POST, prefix=f"redraft-{screen.id}",
                                providers=offer.models)
    if not form.is_valid():
        return _version_page(request, version, ai_form=form, status=422)
    try:
        ai_edit(version, actor=web_actor(request), feature="regenerate_screen",
                provider=form.provider, screen_id=screen.id,
                instruction=form.cleaned_data["instruction"])
    except (AiBlocked, AiFailed, Conflict, Invalid) as exc:
        return _ai_refused(request, version, exc)
    return _after_edit(request, version, screen.id,
                       f"Screen “{screen.title}” was redrafted with AI. Check it against "
                       "its sources before you submit the draft.")


@org_view()
@require_POST
def ai_refine(request: OrgRequest, version_id: int) -> HttpResponse:
    from coursewright.ai.actions import ai_edit
    from coursewright.ai.gateway import AiBlocked, AiFailed

    version, offer = _ai_version(request, version_id)
    form = RefineForm(request.POST, screens=_screen_choices(version), providers=offer.models)
    if not form.is_valid():
        return _version_page(request, version, ai_form=form, status=422)
    data = form.cleaned_data
    try:
        ai_edit(version, actor=web_actor(request), feature="refine", provider=form.provider,
                screen_ids=form.screen_ids, tone=data["tone"],
                reading_level=data["reading_level"], length=data["length"])
    except (AiBlocked, AiFailed, Conflict, Invalid) as exc:
        return _ai_refused(request, version, exc)
    if form.screen_ids:
        return _after_edit(request, version, form.screen_ids[0],
                           "The screen was refined with AI. Check it before you submit "
                           "the draft.")
    messages.success(request, "The draft was refined with AI. Check every screen before "
                              "you submit it.")
    return redirect("web:version", request.org.slug, version.pk)


@org_view()
@require_POST
def ai_questions(request: OrgRequest, version_id: int) -> HttpResponse:
    from coursewright.ai.actions import ai_edit
    from coursewright.ai.gateway import AiBlocked, AiFailed

    version, offer = _ai_version(request, version_id)
    form = QuestionsForm(request.POST, screens=_screen_choices(version),
                         providers=offer.models)
    if not form.is_valid():
        return _version_page(request, version, ai_form=form, status=422)
    screen_id = form.cleaned_data["screen"]
    before = len(_screen(version, screen_id).blocks)
    try:
        changed = ai_edit(version, actor=web_actor(request), feature="quiz",
                          provider=form.provider, screen_id=screen_id,
                          count=form.cleaned_data["count"])
    except (AiBlocked, AiFailed, Conflict, Invalid) as exc:
        return _ai_refused(request, version, exc)
    added = len(_screen(changed, screen_id).blocks) - before  # the AI may write fewer
    return _after_edit(request, version, screen_id,
                       f"{'A question was' if added == 1 else f'{added} questions were'} "
                       "added with AI at the end of the screen. Check the answers before "
                       "you submit the draft.")


@org_view()
@require_POST
def ai_translate(request: OrgRequest, version_id: int) -> HttpResponse:
    from coursewright.ai.actions import translate_version
    from coursewright.ai.gateway import AiBlocked, AiFailed

    version, offer = _ai_version(request, version_id)
    current = actions.validate_content(version.content).language
    form = TranslateForm(request.POST, current=current, providers=offer.models)
    if not form.is_valid():
        return _version_page(request, version, ai_form=form, status=422)
    language = form.cleaned_data["language"]
    try:
        draft = translate_version(version, language, actor=web_actor(request),
                                  provider=form.provider)
    except (AiBlocked, AiFailed, Conflict, Invalid) as exc:
        return _ai_refused(request, version, exc)
    messages.success(request, f"Version {draft.number} is a new draft in "
                              f"{LANGUAGE_NAMES.get(language, language)}, translated with AI "
                              f"from version {version.number}. Check every screen before "
                              "you submit it for review.")
    return redirect("web:version", request.org.slug, draft.pk)


# --- the learner's view ----------------------------------------------------------------

PLAYER_TYPES = {"player.js": "text/javascript", "player.css": "text/css",
                "noscript.css": "text/css"}


@org_view()
@require_GET
def preview(request: OrgRequest, version_id: int) -> HttpResponse:
    """The version as a learner will see it: the packaged player page, rendered here
    with the player files and images served from this site."""
    from coursewright.player.render import ImageFile, render_index_html
    from coursewright.publishing.packaging import PackageMeta

    version = _version(request, version_id)
    _record_read(request, version, view="learner preview")
    content = actions.validate_content(version.content)
    approver = version.approved_by
    meta = PackageMeta(
        course_id=f"{request.org.slug}-{version.course_id}", version_number=version.number,
        approved_by=(approver.display_name or approver.email) if approver
        else "nobody yet (preview)",
        approved_at=version.approved_at or version.updated_at,
        published_at=version.published_at, org_name=request.org.name)
    images = {sha: ImageFile(src=reverse("web:image", args=[request.org.slug,
                                                           version.course_id, sha]))
              for sha in content.asset_hashes()}
    from coursewright.ai.policy import DEFAULT_DISCLOSURE, disclosure_text
    from coursewright.assist.access import player_assist

    wording = disclosure_text(request.org)
    page = render_index_html(content, fmt="html", meta=meta, images=images, asset_prefix="",
                             provenance_href=None,
                             disclosure=None if wording == DEFAULT_DISCLOSURE else wording,
                             assist=player_assist(version, base_url=""))
    return HttpResponse(page)


@org_view()
@require_GET
def preview_file(request: OrgRequest, version_id: int, name: str) -> HttpResponse:
    from coursewright.player.render import player_assets

    _version(request, version_id)  # the same scoping as the page that loads it
    if name not in PLAYER_TYPES:
        raise NotFound("no such player file")
    return HttpResponse(player_assets()[name], content_type=PLAYER_TYPES[name])


# --- editing a draft -------------------------------------------------------------------


def _screen(version: CourseVersion, screen_id: str) -> Screen:
    content = actions.validate_content(version.content)
    found = next((s for s in content.screens if s.id == screen_id), None)
    if found is None:
        raise NotFound("no such screen")
    return found


def _edit_page(request: OrgRequest, version: CourseVersion, screen: Screen,
               form: ScreenForm | None = None, image_form: ImageBlockForm | None = None,
               status: int = 200) -> HttpResponse:
    form = form or ScreenForm(screen)
    return render(request, "web/edit_screen.html", {
        "version": version, "course": version.course, "screen": screen, "form": form,
        "blocks": form.editor_blocks(), "image_form": image_form or ImageBlockForm(),
    }, status=status)


def _not_a_draft(request: OrgRequest, version: CourseVersion) -> HttpResponse:
    messages.warning(request, f"Version {version.number} is "
                              f"{version.get_state_display().lower()} and cannot be edited. "
                              "Start a new draft to make changes.")
    return redirect("web:version", request.org.slug, version.pk)


def _after_edit(request: OrgRequest, version: CourseVersion, screen_id: str,
                message: str) -> HttpResponse:
    messages.success(request, message)
    url = reverse("web:version", args=[request.org.slug, version.pk])
    return redirect(f"{url}#screen-{screen_id}")


@org_view()
@require_http_methods(["GET", "POST"])
def edit_screen(request: OrgRequest, version_id: int, screen_id: str) -> HttpResponse:
    version = _version(request, version_id)
    _require(request, AUTHORING_ROLES, "edit courses")
    screen = _screen(version, screen_id)
    if version.state != S.DRAFT:
        return _not_a_draft(request, version)
    if request.method != "POST":
        _record_read(request, version, screen=screen_id)
        return _edit_page(request, version, screen)
    form = ScreenForm(screen, request.POST)
    if not form.is_valid() or form.built is None:
        return _edit_page(request, version, screen, form=form, status=422)
    try:
        actions.update_screen(version, screen_id, form.built, actor=web_actor(request))
    except Invalid as exc:
        form.add_error(None, exc.message)
        for detail in exc.details:
            form.add_error(None, detail["msg"].removeprefix("Value error, "))
        return _edit_page(request, version, screen, form=form, status=exc.status)
    return _after_edit(request, version, screen_id, f"Screen “{form.built['title']}” saved.")


@org_view()
@require_POST
def add_image(request: OrgRequest, version_id: int, screen_id: str) -> HttpResponse:
    version = _version(request, version_id)
    _require(request, AUTHORING_ROLES, "edit courses")
    screen = _screen(version, screen_id)
    if version.state != S.DRAFT:
        return _not_a_draft(request, version)
    form = ImageBlockForm(request.POST, request.FILES)
    if not form.is_valid():
        return _edit_page(request, version, screen, image_form=form, status=422)
    # Two steps by nature: store the file (an asset of the course), then reference it
    # from the screen. A stored but unreferenced image is harmless and deduplicated.
    try:
        asset = actions.add_image(version.course, data=form.read_image(),
                                  actor=web_actor(request))
    except DomainError as exc:
        form.add_error("image", exc.message)
        return _edit_page(request, version, screen, image_form=form, status=exc.status)
    data = screen_without_provenance(screen)
    data["blocks"].append(form.image_block(asset.sha256))
    actions.update_screen(version, screen_id, data, actor=web_actor(request))
    return _after_edit(request, version, screen_id, "Image added at the end of the screen.")
