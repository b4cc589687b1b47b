"""Dashboard pages of the course flow: upload → generation job → course → version →
screen editor → review → publish → download.

Every organisation page goes through ``org_view`` (membership by slug, two-factor) and
fetches objects only with ``get_scoped(..., org=request.org)``, so an object of another
organisation — or of another of the person's own organisations under this slug — is a
404. Role checks use ``principal.require``, whose ``Forbidden`` ``org_view`` shows as a
friendly 403 page. A POST validates a form, calls one action, adds a message and
redirects; the actions decide what is allowed (who may approve, what may change), the
pages only hide buttons that would be refused anyway.
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

from coursewright.ai.models import GenerationJob, JobStatus
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
from coursewright.courses.models import Asset, Course, CourseVersion, ReviewComment, VersionState
from coursewright.courses.rendering import render_markdown
from coursewright.errors import DomainError, Invalid, NotFound
from coursewright.ingest.models import Document, DocumentChunk
from coursewright.orgs.access import get_scoped, scoped
from coursewright.orgs.models import AUTHORING_ROLES, REVIEWING_ROLES, Membership
from coursewright.publishing.models import ExportFormat
from coursewright.web.access import OrgRequest, org_view, web_actor
from coursewright.web.forms import (
    ImageBlockForm,
    RejectForm,
    ScreenForm,
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
    return render(request, "web/dashboard.html", {
        "rows": rows, "documents": documents, "can_author": can_author,
        "form": UploadForm() if can_author else None,
    })


# --- upload and generation -------------------------------------------------------------


@org_view()
@require_http_methods(["GET", "POST"])
def upload(request: OrgRequest) -> HttpResponse:
    _require(request, AUTHORING_ROLES, "upload documents")
    if request.method != "POST":
        return render(request, "web/upload.html", {"form": UploadForm()})
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "web/upload.html", {"form": form}, status=422)
    from coursewright.ai.actions import start_generation
    from coursewright.ingest.actions import ingest_document

    name, data = form.read_file()
    actor = web_actor(request)
    try:
        document = ingest_document(request.org, filename=name, data=data, actor=actor)
        job = start_generation(document, actor=actor, title=form.cleaned_data["title"],
                               language=form.cleaned_data["language"],
                               target_screens=form.cleaned_data["target_screens"])
    except DomainError as exc:
        form.add_error("file", exc.message)
        return render(request, "web/upload.html", {"form": form}, status=exc.status)
    messages.success(request, f"“{document.filename}” uploaded. Drafting the course now.")
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
    return render(request, "web/job.html", {"job": job, "state": _job_state(request, job)})


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
    version = actions.approve_version(version, actor=web_actor(request))
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
@require_GET
def version(request: OrgRequest, version_id: int) -> HttpResponse:
    version = _version(request, version_id)
    _record_read(request, version)
    course = version.course
    content = actions.validate_content(version.content)
    cited = {s for screen in content.screens for b in screen.blocks
             for s in b.provenance.sources}
    chunks: dict[str, DocumentChunk] = {}
    if cited and course.source_document_id is not None:
        chunks = {c.chunk_id: c for c in DocumentChunk.objects.filter(
            org=request.org, document_id=course.source_document_id, chunk_id__in=cited)}
    screens = [ScreenView(screen, n, [_block_view(request, course, b, chunks)
                                      for b in screen.blocks])
               for n, screen in enumerate(content.screens, start=1)]
    return render(request, "web/version.html", {
        "version": version, "course": course, "content": content, "screens": screens,
        "can_edit": version.state == S.DRAFT and request.role in AUTHORING_ROLES,
    })


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
    page = render_index_html(content, fmt="html", meta=meta, images=images, asset_prefix="",
                             provenance_href=None)
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
