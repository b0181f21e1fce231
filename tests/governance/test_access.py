"""``holds``: what ``has_perm`` says, with no query when a group of the user grants the role
or nothing could;
``PermissionBackend``: Django's ModelBackend, with the permissions read in one query;
signed out, an htmx request sends the whole page to sign in."""

import time

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission

from config.middleware import SESSION_AUTH_STARTED
from governance.access import PermissionBackend, holds
from governance.models import User
from governance.policy_cache import read_version
from governance.roles import ROLE_PERMISSIONS, Role
from tests.factories import make_user


def _permission(role: Role) -> Permission:
    return Permission.objects.get(
        content_type__app_label="governance", codename=ROLE_PERMISSIONS[role][0]
    )


def _fresh(user: User) -> User:
    """The user read again, without the permissions ``has_perm`` cached on the instance."""
    return User.objects.get(pk=user.pk)


@pytest.mark.parametrize("role", Role)
def test_it_answers_for_a_group_that_grants_the_role_without_queries(
    owner, role, django_assert_num_queries
):
    assert holds(owner, role, read_version(owner.pk))  # reads which groups grant which role
    user = _fresh(owner)
    version = read_version(user.pk)
    with django_assert_num_queries(0):
        assert holds(user, role, version)


def test_it_answers_for_a_group_other_than_the_roles_own_without_queries(
    db, django_assert_num_queries
):
    contractors = Group.objects.create(name="Contractors")
    contractors.permissions.add(_permission(Role.STAFF))
    user = make_user("contractor@example.com")
    user.groups.add(contractors)
    assert holds(user, Role.STAFF, read_version(user.pk))
    user = _fresh(user)
    version = read_version(user.pk)
    with django_assert_num_queries(0):
        assert holds(user, Role.STAFF, version)


def _superuser() -> User:
    return User.objects.create_superuser("root@example.com", "correct-horse-battery")


def _given_directly() -> User:
    user = make_user("direct@example.com")
    user.user_permissions.add(_permission(Role.STAFF))
    return user


def _inactive_member() -> User:
    return make_user("gone@example.com", Role.STAFF, is_active=False)


def _inactive_superuser() -> User:
    return User.objects.create_superuser("old-root@example.com", is_active=False)


def _outsider() -> User:
    return make_user("outsider@example.com")


def _auditor() -> User:
    return make_user("auditor@example.com", Role.AUDITOR)


# name: (the user, whether they hold the Staff role)
WITHOUT_A_GRANTING_GROUP = {
    "superuser without groups": (_superuser, True),
    "permission given directly": (_given_directly, True),
    "inactive member of the role's group": (_inactive_member, False),
    "inactive superuser": (_inactive_superuser, False),
    "no role": (_outsider, False),
    "another role": (_auditor, False),
}


@pytest.mark.parametrize(
    "case", WITHOUT_A_GRANTING_GROUP.values(), ids=WITHOUT_A_GRANTING_GROUP.keys()
)
def test_it_asks_has_perm_when_no_group_of_the_user_grants_the_role(db, case):
    make, expected = case
    user = make()
    assert holds(user, Role.STAFF, read_version(user.pk)) is expected
    assert _fresh(user).has_perm(Role.STAFF.permission) is expected


# --- PermissionBackend ---------------------------------------------------------------------


def _several_sources() -> User:
    """Two roles from their groups, one from a group of another name, one given directly."""
    user = make_user("many@example.com", Role.STAFF, Role.AUDITOR)
    contractors = Group.objects.create(name="Contractors")
    contractors.permissions.add(_permission(Role.PRIVACY_OFFICER))
    user.groups.add(contractors)
    user.user_permissions.add(_permission(Role.POLICY_ADMIN))
    return user


@pytest.mark.parametrize(
    "make", [_several_sources, _superuser, _given_directly, _inactive_member, lambda: None]
)
def test_the_backend_finds_the_permissions_django_would_in_one_query(
    db, make, django_assert_num_queries
):
    user = make() or make_user("none@example.com")
    expected = ModelBackend().get_all_permissions(_fresh(user))
    user = _fresh(user)
    with django_assert_num_queries(1 if user.is_active else 0):
        assert PermissionBackend().get_all_permissions(user) == expected
    with django_assert_num_queries(0):  # cached on the user for the rest of the request
        assert all(user.has_perm(perm) for perm in expected)


def test_the_backend_finds_the_signed_in_user_as_django_would(db, django_assert_num_queries):
    user = make_user("someone@example.com", Role.STAFF)
    gone = make_user("gone@example.com", Role.STAFF)
    gone.is_active = False
    gone.save()
    backend = PermissionBackend()
    with django_assert_num_queries(1):
        found = backend.get_user(str(user.pk))  # as the session keeps it
    assert (found.pk, found.email, found.is_active) == (user.pk, user.email, True)
    assert backend.get_user(gone.pk) is None  # deactivated: signed out
    assert backend.get_user(10**9) is None
    assert backend.get_user("not a number") is None
    assert ModelBackend().get_user(gone.pk) is None and ModelBackend().get_user(10**9) is None


def test_a_session_signed_in_through_modelbackend_stays_signed_in(client, member):
    client.force_login(member, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get("/chat/").status_code == 200


@pytest.mark.parametrize("make", [_outsider, _auditor, _inactive_member])
def test_it_answers_no_without_queries_when_nothing_could_grant_the_role(
    db, make, django_assert_num_queries
):
    """No group of the user grants it and they hold no permission of their own (the version
    read says so): has_perm could only say no."""
    user = make()
    assert not holds(user, Role.STAFF, read_version(user.pk))  # reads which groups grant it
    user = _fresh(user)
    version = read_version(user.pk)
    assert not version.own_permissions
    with django_assert_num_queries(0):
        assert not holds(user, Role.STAFF, version)


def test_a_permission_given_directly_is_seen_by_the_next_version_read(db):
    user = _outsider()
    assert not holds(user, Role.STAFF, read_version(user.pk))
    user.user_permissions.add(_permission(Role.STAFF))  # no policy version change
    user = _fresh(user)
    version = read_version(user.pk)
    assert version.own_permissions and holds(user, Role.STAFF, version)


def test_a_session_past_its_lifetime_sends_the_whole_page_of_an_htmx_request_to_sign_in(
    client, member, settings
):
    client.force_login(member)
    session = client.session
    session[SESSION_AUTH_STARTED] = time.time() - settings.STEWARD_SESSION_MAX_AGE - 1
    session.save()
    response = client.get(
        "/chat/?q=budget", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/chat/"
    )
    assert response.status_code == 200 and "Location" not in response
    assert response["HX-Redirect"] == "/accounts/login/?next=/chat/"
    assert "_auth_user_id" not in client.session  # signed out


def test_a_signed_out_htmx_request_from_another_site_comes_back_to_the_views_own_page(client, db):
    response = client.get(
        "/chat/", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="https://elsewhere.example/chat/x/"
    )
    assert response["HX-Redirect"] == "/accounts/login/?next=/chat/"


def test_a_signed_out_request_without_htmx_is_redirected_as_usual(client, db):
    response = client.get("/chat/", HTTP_HX_CURRENT_URL="http://testserver/elsewhere/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/chat/"
