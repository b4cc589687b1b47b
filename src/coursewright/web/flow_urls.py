"""The course flow's pages. Every page under ``o/<org_slug>/`` resolves the organisation
among the signed-in person's memberships (``org_view``) and fetches objects scoped to it;
``tests/web/test_cross_org.py`` walks this list and proves each one refuses other
organisations' objects."""

from django.urls import URLPattern, path

from coursewright.web import views

patterns: list[URLPattern] = [
    path("", views.home, name="home"),
    path("o/<slug:org_slug>/", views.dashboard, name="dashboard"),
    path("o/<slug:org_slug>/documents/upload/", views.upload, name="upload"),
    path("o/<slug:org_slug>/jobs/<int:job_id>/", views.job, name="job"),
    path("o/<slug:org_slug>/jobs/<int:job_id>/status.json", views.job_status,
         name="job_status"),
    path("o/<slug:org_slug>/courses/<int:course_id>/", views.course, name="course"),
    path("o/<slug:org_slug>/courses/<int:course_id>/delete/", views.delete_course_view,
         name="delete_course"),
    path("o/<slug:org_slug>/courses/<int:course_id>/drafts/", views.new_draft,
         name="new_draft"),
    path("o/<slug:org_slug>/courses/<int:course_id>/images/<str:sha256>/", views.image,
         name="image"),
    path("o/<slug:org_slug>/versions/<int:version_id>/", views.version, name="version"),
    path("o/<slug:org_slug>/versions/<int:version_id>/screens/<slug:screen_id>/edit/",
         views.edit_screen, name="edit_screen"),
    path("o/<slug:org_slug>/versions/<int:version_id>/screens/<slug:screen_id>/images/",
         views.add_image, name="add_image"),
    path("o/<slug:org_slug>/versions/<int:version_id>/submit/", views.submit, name="submit"),
    path("o/<slug:org_slug>/versions/<int:version_id>/approve/", views.approve,
         name="approve"),
    path("o/<slug:org_slug>/versions/<int:version_id>/reject/", views.reject, name="reject"),
    path("o/<slug:org_slug>/versions/<int:version_id>/publish/", views.publish,
         name="publish"),
    path("o/<slug:org_slug>/versions/<int:version_id>/export/<str:fmt>/", views.export,
         name="export"),
    path("o/<slug:org_slug>/versions/<int:version_id>/preview/", views.preview,
         name="preview"),
    path("o/<slug:org_slug>/versions/<int:version_id>/preview/<str:name>", views.preview_file,
         name="preview_file"),
]
