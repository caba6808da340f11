from django.urls import include, path

from . import auth_views, security_views, views

urlpatterns = [
    path("", views.home, name="home"),
    # Before Django's auth URLs: the password-reset form with per-address and per-account limits.
    path("accounts/password_reset/", auth_views.LimitedPasswordResetView.as_view(), name="password_reset"),
    path("accounts/security/", security_views.account_security, name="account-security"),
    path("accounts/security/verify/", security_views.two_factor_verify, name="two-factor-verify"),
    path("accounts/security/two-factor/start/", security_views.two_factor_start, name="two-factor-start"),
    path(
        "accounts/security/two-factor/confirm/", security_views.two_factor_confirm, name="two-factor-confirm"
    ),
    path("accounts/security/two-factor/off/", security_views.two_factor_disable, name="two-factor-disable"),
    path(
        "accounts/security/recovery-codes/", security_views.recovery_codes_renew, name="recovery-codes-renew"
    ),
    path("accounts/security/sessions/end/", security_views.sessions_end, name="sessions-end"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("t/<slug:tenant_slug>/api-access/", views.api_access, name="api-access"),
    path(
        "t/<slug:tenant_slug>/api-access/<int:token_id>/revoke/",
        views.api_token_revoke,
        name="api-token-revoke",
    ),
    path("t/<slug:tenant_slug>/members/", views.members, name="tenant-members"),
    path(
        "t/<slug:tenant_slug>/members/two-factor/", security_views.tenant_two_factor, name="tenant-two-factor"
    ),
    path("t/<slug:tenant_slug>/members/<int:member_id>/", views.member_detail, name="tenant-member"),
    path("t/<slug:tenant_slug>/members/<int:member_id>/role/", views.member_role, name="tenant-member-role"),
    path(
        "t/<slug:tenant_slug>/members/<int:member_id>/grants/",
        views.member_grants_update,
        name="tenant-member-grants",
    ),
    path(
        "t/<slug:tenant_slug>/members/<int:member_id>/resend/",
        views.member_resend_invitation,
        name="tenant-member-resend",
    ),
    path(
        "t/<slug:tenant_slug>/members/<int:member_id>/remove/",
        views.member_remove,
        name="tenant-member-remove",
    ),
    path("t/<slug:tenant_slug>/organisation/data/", views.organisation_data, name="organisation-data"),
    path(
        "t/<slug:tenant_slug>/organisation/data/<str:file_name>",
        views.organisation_export_download,
        name="organisation-export-download",
    ),
    path("t/<slug:tenant_slug>/organisation/delete/", views.organisation_delete, name="organisation-delete"),
    path("t/<slug:tenant_slug>/registrations/", views.registrations, name="tenant-registrations"),
    path(
        "t/<slug:tenant_slug>/registrations/<int:registration_id>/",
        views.registration_edit,
        name="tenant-registration-edit",
    ),
    path(
        "t/<slug:tenant_slug>/registrations/<int:registration_id>/active/",
        views.registration_active,
        name="tenant-registration-active",
    ),
]
