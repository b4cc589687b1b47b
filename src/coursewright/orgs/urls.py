"""Organisation settings and the invitation link (names in the "web" namespace)."""

from django.urls import URLPattern, path

from coursewright.orgs import views

patterns: list[URLPattern] = [
    path("o/<slug:org_slug>/settings/", views.org_settings, name="org_settings"),
    path("o/<slug:org_slug>/settings/members/<int:membership_id>/role/", views.member_role,
         name="org_member_role"),
    path("o/<slug:org_slug>/settings/members/<int:membership_id>/remove/", views.member_remove,
         name="org_member_remove"),
    path("o/<slug:org_slug>/settings/invitations/", views.invite, name="org_invite"),
    path("o/<slug:org_slug>/settings/keys/", views.api_key_create, name="org_api_key_create"),
    path("o/<slug:org_slug>/settings/keys/<int:key_id>/revoke/", views.api_key_revoke,
         name="org_api_key_revoke"),
    path("o/<slug:org_slug>/settings/two-factor/", views.require_mfa, name="org_require_mfa"),
    path("o/<slug:org_slug>/settings/delete/", views.delete_organisation_view,
         name="org_delete"),
    path("invite/<str:token>/", views.invitation, name="invitation"),
]
