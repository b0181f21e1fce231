"""Every URL pattern of the project, for every persona: the expected answer.

A pattern missing from ``MATRIX`` fails the test, so no page ships without a
decision about who may open it.

Codes: ``L`` = redirect to the login page, ``R`` = another redirect, numbers
are HTTP statuses. Personas: anon, outsider (no role), staff, admin (policy
admin), privacy (privacy officer), auditor.
"""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from governance.models import DetectionRule, ProtectedTermList
from governance.roles import Role
from tests.asked_here import asked
from tests.factories import make_backend, make_category, make_user

PERSONAS = ("anon", "outsider", "staff", "admin", "privacy", "auditor")
PERSONA_ROLES = {
    "outsider": (),
    "staff": (Role.STAFF,),
    "admin": (Role.POLICY_ADMIN,),
    "privacy": (Role.PRIVACY_OFFICER,),
    "auditor": (Role.AUDITOR,),
}
USER_ID = "{user}"  # replaced by the staff persona's public id
# Policy objects the personas fixture creates, so detail pages have something to show.
BACKEND_ID = "00000000-0000-4000-8000-0000000000b1"
RULE_ID = "00000000-0000-4000-8000-0000000000a1"
TERMS_ID = "00000000-0000-4000-8000-0000000000c1"
# The staff persona's conversation and an answer in it (nobody else may see either).
CONVERSATION_ID = "00000000-0000-4000-8000-0000000000d1"
ANSWER_ID = "00000000-0000-4000-8000-0000000000e1"
# The staff persona's data-subject request, a legal hold and a purge run.
REQUEST_ID = "00000000-0000-4000-8000-0000000000f1"
HOLD_ID = "00000000-0000-4000-8000-0000000000f2"
PURGE_ID = "00000000-0000-4000-8000-0000000000f3"
# A quiz question; version 1 of the policy document is published (the staff persona
# acknowledged it, so chat answers them as usual).
QUESTION_ID = "00000000-0000-4000-8000-000000000071"


def row(anon, outsider, staff, admin, privacy, auditor):
    return dict(zip(PERSONAS, (anon, outsider, staff, admin, privacy, auditor), strict=True))


def everyone(code):
    return row(code, code, code, code, code, code)


def signed_in(code):
    return row("L", code, code, code, code, code)


def own_request(code):
    """The staff persona's own data-subject request: them and privacy officers; others 404."""
    return row("L", 404, code, 404, code, 404)


def only(role_persona: str):
    expected = row("L", 403, 403, 403, 403, 403)
    expected[role_persona] = 200
    return expected


# The REST API answers 401 (not a login redirect) to the anonymous: it asks for a token.
API_ADMIN = row(401, 403, 403, 200, 403, 403)
API_PRIVACY = row(401, 403, 403, 403, 200, 403)
# A POST-only action: the role is checked first, then the method.
API_POST_ONLY = row(401, 403, 403, 403, 405, 403)

# pattern -> (concrete path, expected answer per persona)
MATRIX = {
    "": ("/", signed_in(200)),
    "healthz": ("/healthz", everyone(200)),
    # --- accounts (django-allauth) ---
    "accounts/login/": ("/accounts/login/", row(200, "R", "R", "R", "R", "R")),
    "accounts/logout/": ("/accounts/logout/", signed_in(200)),
    "accounts/inactive/": ("/accounts/inactive/", everyone(200)),
    "accounts/signup/": ("/accounts/signup/", row(200, "R", "R", "R", "R", "R")),
    "accounts/reauthenticate/": ("/accounts/reauthenticate/", signed_in(200)),
    "accounts/reauthenticate/code/": ("/accounts/reauthenticate/code/", signed_in("R")),
    "accounts/reauthenticate/code/confirm/": (
        "/accounts/reauthenticate/code/confirm/",
        signed_in("R"),
    ),
    "accounts/email/": ("/accounts/email/", signed_in(200)),
    "accounts/confirm-email/": ("/accounts/confirm-email/", everyone(200)),
    "accounts/password/change/": ("/accounts/password/change/", signed_in(200)),
    "accounts/password/set/": ("/accounts/password/set/", signed_in("R")),
    "accounts/password/reset/": ("/accounts/password/reset/", everyone(200)),
    "accounts/login/code/confirm/": ("/accounts/login/code/confirm/", row("L", *["R"] * 5)),
    "accounts/^confirm-email/(?P<key>[-:\\w]+)/$": (
        "/accounts/confirm-email/bad-key/",
        everyone(200),
    ),
    "accounts/password/reset/key/done/": ("/accounts/password/reset/key/done/", everyone(200)),
    "accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": (
        "/accounts/password/reset/key/1-bad-key/",
        everyone(200),
    ),
    "accounts/password/reset/done/": ("/accounts/password/reset/done/", everyone(200)),
    "accounts/2fa/": ("/accounts/2fa/", signed_in(200)),
    "accounts/2fa/authenticate/": ("/accounts/2fa/authenticate/", row("L", *["R"] * 5)),
    "accounts/2fa/reauthenticate/": ("/accounts/2fa/reauthenticate/", signed_in("R")),
    # Enrolling asks for a fresh password first (force_login leaves no such record).
    "accounts/2fa/totp/activate/": ("/accounts/2fa/totp/activate/", signed_in("R")),
    "accounts/2fa/totp/deactivate/": ("/accounts/2fa/totp/deactivate/", signed_in(404)),
    "accounts/2fa/recovery-codes/": ("/accounts/2fa/recovery-codes/", signed_in(404)),
    "accounts/2fa/recovery-codes/generate/": (
        "/accounts/2fa/recovery-codes/generate/",
        signed_in("R"),
    ),
    "accounts/2fa/recovery-codes/download/": (
        "/accounts/2fa/recovery-codes/download/",
        signed_in(404),
    ),
    "accounts/3rdparty/login/cancelled/": ("/accounts/3rdparty/login/cancelled/", everyone(200)),
    "accounts/3rdparty/login/error/": ("/accounts/3rdparty/login/error/", everyone(401)),
    "accounts/3rdparty/signup/": ("/accounts/3rdparty/signup/", everyone("L")),
    "accounts/3rdparty/": ("/accounts/3rdparty/", signed_in(200)),
    "accounts/social/login/cancelled/": ("/accounts/social/login/cancelled/", everyone("R")),
    "accounts/social/login/error/": ("/accounts/social/login/error/", everyone("R")),
    "accounts/social/signup/": ("/accounts/social/signup/", everyone("R")),
    "accounts/social/connections/": ("/accounts/social/connections/", everyone("R")),
    "accounts/oidc/^(?P<provider_id>[^/]+)/login/": ("/accounts/oidc/sso/login/", everyone(404)),
    "accounts/oidc/^(?P<provider_id>[^/]+)/login/callback/": (
        "/accounts/oidc/sso/login/callback/",
        everyone(404),
    ),
    # --- Steward ---
    "policy/": ("/policy/", only("admin")),
    "policy/users/": ("/policy/users/", only("admin")),
    "policy/users/<uuid:public_id>/": (f"/policy/users/{USER_ID}/", only("admin")),
    "policy/simulator/": ("/policy/simulator/", only("admin")),
    "policy/backends/new/": ("/policy/backends/new/", only("admin")),
    "policy/backends/<uuid:public_id>/": (f"/policy/backends/{BACKEND_ID}/", only("admin")),
    "policy/backends/<uuid:public_id>/state/": (
        f"/policy/backends/{BACKEND_ID}/state/",
        everyone(405),  # POST only, like every change below: see tests/governance/test_console_*
    ),
    "policy/backends/<uuid:public_id>/delete/": (
        f"/policy/backends/{BACKEND_ID}/delete/",
        everyone(405),
    ),
    "policy/backends/<uuid:public_id>/test/": (
        f"/policy/backends/{BACKEND_ID}/test/",
        everyone(405),
    ),
    "policy/approvals/": ("/policy/approvals/", only("admin")),
    "policy/approvals/<slug:category>/<uuid:backend>/preference/": (
        f"/policy/approvals/public/{BACKEND_ID}/preference/",
        everyone(405),
    ),
    "policy/approvals/<slug:category>/<uuid:backend>/revoke/": (
        f"/policy/approvals/public/{BACKEND_ID}/revoke/",
        everyone(405),
    ),
    "policy/clearances/": ("/policy/clearances/", only("admin")),
    "policy/clearances/revoke/": ("/policy/clearances/revoke/", everyone(405)),
    "policy/categories/new/": ("/policy/categories/new/", only("admin")),
    "policy/categories/<slug:slug>/": ("/policy/categories/public/", only("admin")),
    "policy/categories/<slug:slug>/findings/": (
        "/policy/categories/public/findings/",
        everyone(405),
    ),
    "policy/categories/<slug:slug>/state/": ("/policy/categories/public/state/", everyone(405)),
    "policy/rules/": ("/policy/rules/", only("admin")),
    "policy/rules/new/": ("/policy/rules/new/", only("admin")),
    "policy/rules/<uuid:public_id>/": (f"/policy/rules/{RULE_ID}/", only("admin")),
    "policy/rules/<uuid:public_id>/state/": (f"/policy/rules/{RULE_ID}/state/", everyone(405)),
    "policy/rules/<uuid:public_id>/delete/": (f"/policy/rules/{RULE_ID}/delete/", everyone(405)),
    "policy/term-lists/": ("/policy/term-lists/", only("admin")),
    "policy/term-lists/new/": ("/policy/term-lists/new/", only("admin")),
    "policy/term-lists/<uuid:public_id>/": (f"/policy/term-lists/{TERMS_ID}/", only("admin")),
    "policy/term-lists/<uuid:public_id>/state/": (
        f"/policy/term-lists/{TERMS_ID}/state/",
        everyone(405),
    ),
    "policy/term-lists/<uuid:public_id>/delete/": (
        f"/policy/term-lists/{TERMS_ID}/delete/",
        everyone(405),
    ),
    "privacy/": ("/privacy/", only("privacy")),
    "privacy/requests/new/": ("/privacy/requests/new/", only("privacy")),
    "privacy/requests/<uuid:public_id>/": (f"/privacy/requests/{REQUEST_ID}/", own_request(200)),
    "privacy/requests/<uuid:public_id>/verify/": (
        f"/privacy/requests/{REQUEST_ID}/verify/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/scope/": (
        f"/privacy/requests/{REQUEST_ID}/scope/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/approve/": (
        f"/privacy/requests/{REQUEST_ID}/approve/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/reject/": (
        f"/privacy/requests/{REQUEST_ID}/reject/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/reject/confirm/": (
        f"/privacy/requests/{REQUEST_ID}/reject/confirm/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/reject/withdraw/": (
        f"/privacy/requests/{REQUEST_ID}/reject/withdraw/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/release/": (
        f"/privacy/requests/{REQUEST_ID}/release/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/check-copy/": (
        f"/privacy/requests/{REQUEST_ID}/check-copy/",
        row("L", 403, 403, 403, "R", 403),  # no archive yet: back to the request page
    ),
    "privacy/requests/<uuid:public_id>/retry/": (
        f"/privacy/requests/{REQUEST_ID}/retry/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/finish/": (
        f"/privacy/requests/{REQUEST_ID}/finish/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/extend/": (
        f"/privacy/requests/{REQUEST_ID}/extend/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/told/": (
        f"/privacy/requests/{REQUEST_ID}/told/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/recipients-told/": (
        f"/privacy/requests/{REQUEST_ID}/recipients-told/",
        everyone(405),
    ),
    "privacy/requests/<uuid:public_id>/receipt.json": (
        f"/privacy/requests/{REQUEST_ID}/receipt.json",
        own_request("R"),  # not written yet: back to the request page
    ),
    "privacy/requests/<uuid:public_id>/letter/": (
        f"/privacy/requests/{REQUEST_ID}/letter/",
        own_request("R"),  # still open: back to the request page
    ),
    "privacy/requests/<uuid:public_id>/archive.zip": (
        f"/privacy/requests/{REQUEST_ID}/archive.zip",
        own_request("R"),
    ),
    "privacy/holds/": ("/privacy/holds/", only("privacy")),
    "privacy/holds/<uuid:public_id>/release/": (
        f"/privacy/holds/{HOLD_ID}/release/",
        everyone(405),
    ),
    "privacy/holds/<uuid:public_id>/release/confirm/": (
        f"/privacy/holds/{HOLD_ID}/release/confirm/",
        everyone(405),
    ),
    "privacy/holds/<uuid:public_id>/release/withdraw/": (
        f"/privacy/holds/{HOLD_ID}/release/withdraw/",
        everyone(405),
    ),
    "privacy/purges/": ("/privacy/purges/", only("privacy")),
    "privacy/purges/run/": ("/privacy/purges/run/", everyone(405)),
    "privacy/purges/schedule/": ("/privacy/purges/schedule/", everyone(405)),
    "privacy/purges/<uuid:public_id>/": (f"/privacy/purges/{PURGE_ID}/", only("privacy")),
    "privacy/your-data/": ("/privacy/your-data/", signed_in(200)),
    "privacy/how-steward-uses-your-data/": (
        "/privacy/how-steward-uses-your-data/",
        signed_in(200),
    ),
    # Records of processing: officers keep them, admins configure them, auditors check them.
    "privacy/records/": ("/privacy/records/", row("L", 403, 403, 200, 200, 200)),
    "privacy/records.csv": ("/privacy/records.csv", row("L", 403, 403, 200, 200, 200)),
    # Breach scope: officers only. The CSV without a backend and window is refused (422).
    "privacy/breach/": ("/privacy/breach/", only("privacy")),
    "privacy/breach/conversations.csv": (
        "/privacy/breach/conversations.csv",
        row("L", 403, 403, 403, 422, 403),
    ),
    "training/": ("/training/", row("L", 403, 200, 200, 200, 200)),
    "training/cards/": ("/training/cards/", row("L", 403, 200, 200, 200, 200)),
    "training/cards/<int:number>/": ("/training/cards/1/", row("L", 403, 200, 200, 200, 200)),
    "training/policy/": ("/training/policy/", row("L", 403, 200, 200, 200, 200)),
    "training/policy/v<int:version>/": (
        "/training/policy/v1/",
        row("L", 403, 200, 200, 200, 200),
    ),
    "training/policy/edit/": ("/training/policy/edit/", only("admin")),
    "training/policy/publish/": ("/training/policy/publish/", everyone(405)),
    "training/policy/discard/": ("/training/policy/discard/", everyone(405)),
    "training/acknowledge/": ("/training/acknowledge/", only("staff")),
    "training/quiz/<int:number>/": ("/training/quiz/1/", only("staff")),
    "training/questions/": ("/training/questions/", only("admin")),
    "training/questions/new/": ("/training/questions/new/", only("admin")),
    "training/questions/<uuid:public_id>/": (f"/training/questions/{QUESTION_ID}/", only("admin")),
    "training/questions/<uuid:public_id>/delete/": (
        f"/training/questions/{QUESTION_ID}/delete/",
        everyone(405),
    ),
    "training/report/": ("/training/report/", row("L", 403, 403, 200, 403, 200)),
    "training/report.csv": ("/training/report.csv", row("L", 403, 403, 200, 403, 200)),
    "training/report/remind/": ("/training/report/remind/", everyone(405)),
    "chat/": ("/chat/", only("staff")),
    "chat/new/": ("/chat/new/", everyone(405)),
    "chat/c/<uuid:public_id>/": (f"/chat/c/{CONVERSATION_ID}/", only("staff")),
    "chat/c/<uuid:public_id>/earlier/": (
        f"/chat/c/{CONVERSATION_ID}/earlier/?before={ANSWER_ID}",
        only("staff"),
    ),
    "chat/c/<uuid:public_id>/send/": (f"/chat/c/{CONVERSATION_ID}/send/", everyone(405)),
    "chat/c/<uuid:public_id>/send/stream/": (
        f"/chat/c/{CONVERSATION_ID}/send/stream/",
        everyone(405),
    ),
    "chat/c/<uuid:public_id>/preview/": (f"/chat/c/{CONVERSATION_ID}/preview/", everyone(405)),
    "chat/c/<uuid:public_id>/export.<str:fmt>": (
        f"/chat/c/{CONVERSATION_ID}/export.md",
        only("staff"),
    ),
    "chat/c/<uuid:public_id>/delete/": (f"/chat/c/{CONVERSATION_ID}/delete/", everyone(405)),
    "chat/c/<uuid:public_id>/rename/": (f"/chat/c/{CONVERSATION_ID}/rename/", everyone(405)),
    "chat/m/<uuid:public_id>/": (f"/chat/m/{ANSWER_ID}/", only("staff")),
    "chat/m/<uuid:public_id>/stream/": (f"/chat/m/{ANSWER_ID}/stream/", only("staff")),
    "chat/m/<uuid:public_id>/stop/": (f"/chat/m/{ANSWER_ID}/stop/", everyone(405)),
    "chat/m/<uuid:public_id>/retry/": (f"/chat/m/{ANSWER_ID}/retry/", everyone(405)),
    "audit/": ("/audit/", only("auditor")),
    "audit/events/<sequence:sequence>/": ("/audit/events/1/", only("auditor")),  # a sign-in's event
    "audit/export/<str:fmt>/": ("/audit/export/csv/", only("auditor")),
    "audit/verify/": ("/audit/verify/", everyone(405)),  # POST only: see test_audit_views
    "audit/chain/": ("/audit/chain/", only("auditor")),
    "audit/checkpoints/": ("/audit/checkpoints/", only("auditor")),
    "audit/checkpoints.jsonl": ("/audit/checkpoints.jsonl", only("auditor")),
    "audit/checkpoints/check/": ("/audit/checkpoints/check/", everyone(405)),  # POST only
    "audit/dashboard/": ("/audit/dashboard/", row("L", 403, 403, 200, 403, 200)),
    "audit/charts/<slug:name>.svg": (
        "/audit/charts/decisions.svg",
        row("L", 403, 403, 200, 403, 200),
    ),
    "audit/report/": ("/audit/report/", only("auditor")),
    # --- API (tokens page; /v1 takes tokens only; REST also a session, as the docs page does) ---
    "settings/tokens/": ("/settings/tokens/", signed_in(200)),
    "settings/tokens/<uuid:public_id>/revoke/": (
        f"/settings/tokens/{CONVERSATION_ID}/revoke/",
        everyone(405),
    ),
    "settings/tokens/revoke-all/": ("/settings/tokens/revoke-all/", everyone(405)),
    "v1/models": ("/v1/models", everyone(401)),
    "v1/models/<str:model_id>": ("/v1/models/auto", everyone(401)),
    "v1/chat/completions": ("/v1/chat/completions", everyone(405)),
    "v1/responses": ("/v1/responses", everyone(405)),
    "^v1/": ("/v1/embeddings", everyone(404)),  # OpenAI's 404 for what Steward does not serve
    "^api/": ("/api/nope/", everyone(404)),  # the REST API's JSON 404 for no endpoint
    "api/governance/^categories/$": ("/api/governance/categories/", API_ADMIN),
    "api/governance/^categories/(?P<slug>[^/.\\x00]+)/$": (
        "/api/governance/categories/public/",
        API_ADMIN,
    ),
    "api/governance/^backends/$": ("/api/governance/backends/", API_ADMIN),
    "api/governance/^backends/(?P<public_id>[^/.]+)/$": (
        f"/api/governance/backends/{BACKEND_ID}/",
        API_ADMIN,
    ),
    "api/governance/^approvals/$": ("/api/governance/approvals/", API_ADMIN),
    "api/governance/^approvals/(?P<key>[-\\w]+:[0-9a-fA-F-]{36})/$": (
        f"/api/governance/approvals/public:{BACKEND_ID}/",
        row(401, 403, 403, 404, 403, 403),  # none in the fixture: see tests/api/test_rest.py
    ),
    "api/governance/^clearances/$": ("/api/governance/clearances/", API_ADMIN),
    "api/governance/^clearances/(?P<key>[-\\w]+:(group|user):[^/\\x00]+)/$": (
        "/api/governance/clearances/public:group:Staff/",
        row(401, 403, 403, 405, 403, 403),  # DELETE only: see tests/api/test_rest.py
    ),
    "api/governance/^rules/$": ("/api/governance/rules/", API_ADMIN),
    "api/governance/^rules/(?P<public_id>[^/.]+)/$": (
        f"/api/governance/rules/{RULE_ID}/",
        API_ADMIN,
    ),
    "api/governance/^term-lists/$": ("/api/governance/term-lists/", API_ADMIN),
    "api/governance/^term-lists/(?P<public_id>[^/.]+)/$": (
        f"/api/governance/term-lists/{TERMS_ID}/",
        API_ADMIN,
    ),
    "api/audit/^events/$": ("/api/audit/events/", row(401, 403, 403, 403, 403, 200)),
    "api/audit/^events/(?P<sequence>\\d+)/$": (
        "/api/audit/events/1/",
        row(401, 403, 403, 403, 403, 200),
    ),
    "api/privacy/^requests/$": ("/api/privacy/requests/", API_PRIVACY),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/$": (
        f"/api/privacy/requests/{REQUEST_ID}/",
        API_PRIVACY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/approve/$": (
        f"/api/privacy/requests/{REQUEST_ID}/approve/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/reject/$": (
        f"/api/privacy/requests/{REQUEST_ID}/reject/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/reject/confirm/$": (
        f"/api/privacy/requests/{REQUEST_ID}/reject/confirm/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/reject/withdraw/$": (
        f"/api/privacy/requests/{REQUEST_ID}/reject/withdraw/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/release/$": (
        f"/api/privacy/requests/{REQUEST_ID}/release/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/retry/$": (
        f"/api/privacy/requests/{REQUEST_ID}/retry/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/finish/$": (
        f"/api/privacy/requests/{REQUEST_ID}/finish/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/withhold/$": (
        f"/api/privacy/requests/{REQUEST_ID}/withhold/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/extend/$": (
        f"/api/privacy/requests/{REQUEST_ID}/extend/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/told/$": (
        f"/api/privacy/requests/{REQUEST_ID}/told/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/recipients-told/$": (
        f"/api/privacy/requests/{REQUEST_ID}/recipients-told/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/scope/$": (
        f"/api/privacy/requests/{REQUEST_ID}/scope/",
        API_POST_ONLY,
    ),
    "api/privacy/^requests/(?P<public_id>[^/.]+)/verify/$": (
        f"/api/privacy/requests/{REQUEST_ID}/verify/",
        API_POST_ONLY,
    ),
    "api/privacy/^holds/$": ("/api/privacy/holds/", API_PRIVACY),
    "api/privacy/^holds/(?P<public_id>[^/.]+)/$": (f"/api/privacy/holds/{HOLD_ID}/", API_PRIVACY),
    "api/privacy/^holds/(?P<public_id>[^/.]+)/release/$": (
        f"/api/privacy/holds/{HOLD_ID}/release/",
        API_POST_ONLY,
    ),
    "api/privacy/^holds/(?P<public_id>[^/.]+)/release/confirm/$": (
        f"/api/privacy/holds/{HOLD_ID}/release/confirm/",
        API_POST_ONLY,
    ),
    "api/privacy/^holds/(?P<public_id>[^/.]+)/release/withdraw/$": (
        f"/api/privacy/holds/{HOLD_ID}/release/withdraw/",
        API_POST_ONLY,
    ),
    "api/privacy/^purges/$": ("/api/privacy/purges/", API_PRIVACY),
    "api/privacy/^purges/preview/$": ("/api/privacy/purges/preview/", API_PRIVACY),
    "api/privacy/^purges/start/$": ("/api/privacy/purges/start/", API_POST_ONLY),
    "api/privacy/^purges/(?P<public_id>[^/.]+)/$": (
        f"/api/privacy/purges/{PURGE_ID}/",
        API_PRIVACY,
    ),
    "api/schema/": ("/api/schema/", row(401, 200, 200, 200, 200, 200)),
    "api/docs/": ("/api/docs/", signed_in(200)),  # a page: signed out, sent to sign in
}


#: The audited GET pages: opened without the session's token, each asks first (a 200), whoever
#: may open it (tests/security/test_audited_links.py).
ASKED_HERE = {
    "privacy/breach/conversations.csv",
    "privacy/requests/<uuid:public_id>/receipt.json",
    "privacy/requests/<uuid:public_id>/archive.zip",
    "privacy/requests/<uuid:public_id>/check-copy/",
    "chat/c/<uuid:public_id>/export.<str:fmt>",
    "audit/export/<str:fmt>/",
    "audit/checkpoints.jsonl",
    "training/report.csv",
}


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


def test_it_has_an_entry_for_every_url_pattern():
    patterns = set(_walk(get_resolver().url_patterns))
    assert patterns - MATRIX.keys() == set(), "add these pages to MATRIX"
    assert MATRIX.keys() - patterns == set(), "these MATRIX rows match no page"
    assert ASKED_HERE - patterns == set(), "these ASKED_HERE rows match no page"


def _outcome(response) -> str | int:
    if response.status_code in (301, 302):
        return "L" if response["Location"].startswith("/accounts/login/") else "R"
    return response.status_code


@pytest.fixture
def personas(db):
    users = {
        name: make_user(f"{name}@example.com", *roles) for name, roles in PERSONA_ROLES.items()
    }
    make_category()
    make_backend(public_id=BACKEND_ID)
    DetectionRule.objects.create(
        public_id=RULE_ID, name="Privilege", reason="Legal", pattern="privileged", action="warn"
    )
    terms = ProtectedTermList.objects.create(public_id=TERMS_ID, name="Clients", kind="client")
    terms.set_terms(["Acme"])
    terms.save()
    _conversation_of(users["staff"])
    _privacy_objects(users["staff"])
    _training_objects(users["staff"])
    return {"anon": None, **users}


def _conversation_of(user):
    from chat.models import Conversation, Message
    from governance.models import Category

    conversation = Conversation(
        public_id=CONVERSATION_ID, owner=user, category=Category.objects.get(number=1)
    )
    conversation.init_key()
    conversation.save()
    answer = Message(
        public_id=ANSWER_ID,
        conversation=conversation,
        role=Message.Role.ASSISTANT,
        status=Message.Status.DONE,
        category_number=1,
    )
    answer.content = "An answer."
    answer.save()


@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_answers_each_persona_as_expected(client, personas, persona):
    if personas[persona] is not None:
        client.force_login(personas[persona])
    staff_id = str(personas["staff"].public_id)
    mismatches = {}
    for pattern, (path, expected) in MATRIX.items():
        path = path.replace(USER_ID, staff_id)
        if pattern in ASKED_HERE:  # as Steward's own links open them (else: a question first)
            path = asked(client, path)
        got = _outcome(client.get(path))
        if got != expected[persona]:
            mismatches[pattern] = f"expected {expected[persona]}, got {got}"
    assert mismatches == {}


def _privacy_objects(staff) -> None:
    from tests.privacy.conftest import make_privacy_objects

    make_privacy_objects(staff, request_id=REQUEST_ID, hold_id=HOLD_ID, purge_id=PURGE_ID)


def _training_objects(staff) -> None:
    from django.utils import timezone

    from training.models import Acknowledgement, PolicyDocument, QuizQuestion

    document = PolicyDocument.objects.create(
        version=1, body="## Rules", status="published", published_at=timezone.now()
    )
    Acknowledgement.objects.create(user=staff, document=document, acknowledged_at=timezone.now())
    QuizQuestion.objects.create(
        public_id=QUESTION_ID, category_number=1, prompt="A press release?", answer=1
    )
