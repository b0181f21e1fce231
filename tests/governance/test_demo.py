from django.core.management import call_command
from django.utils import timezone

from audit.models import AuditEvent
from governance import demo
from governance.demo import BUILTIN_NAME, DEMO_PASSWORD, DEMO_USERS, seed_demo_organisation
from governance.models import Approval, Backend, Category, Clearance, User
from governance.policy import unmet_requirements
from governance.roles import Role, roles_of
from governance.simulation import simulate


def test_it_seeds_the_demo_organisation_once(db):
    first = seed_demo_organisation()
    second = seed_demo_organisation()
    assert first.changed and not second.changed
    assert Category.objects.count() == 4
    assert Backend.objects.count() == 3
    assert User.objects.count() == len(DEMO_USERS)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.POLICY_SEEDED).count() == 1


def test_it_covers_every_role_and_lets_each_user_sign_in(client, db):
    seed_demo_organisation()
    held = {role for user in User.objects.all() for role in roles_of(user)}
    assert held == set(Role)
    for email, _, _ in DEMO_USERS:
        assert client.login(email=email, password=DEMO_PASSWORD)


def test_the_demo_people_read_as_active_not_invited(client, db):
    """They have passwords and can sign in: the people list has no invitation to wait on."""
    seed_demo_organisation()
    admin = next(u for u in User.objects.all() if Role.POLICY_ADMIN in roles_of(u))
    client.force_login(admin)
    page = client.get("/policy/users/").content.decode()
    assert ">invited<" not in page
    assert page.count("not yet") == len(DEMO_USERS) - 1  # the admin has just signed in


def test_the_demo_says_what_sensitive_data_is_in_words_staff_know(db):
    seed_demo_organisation()
    summary = Category.objects.get(slug="prohibited").summary
    assert "special-category" not in summary
    assert "health, religion or other sensitive personal data" in summary


def test_every_demo_approval_meets_its_category_requirements(db):
    seed_demo_organisation()
    today = timezone.localdate()
    for approval in Approval.objects.select_related("category", "backend"):
        assert unmet_requirements(approval.category, approval.backend, today=today) == []


def test_the_built_in_model_answers_first_where_nothing_else_is_sure_to(db):
    seed_demo_organisation()
    builtin = Backend.objects.get(name=BUILTIN_NAME)
    assert builtin.kind == Backend.Kind.BUILTIN and builtin.hosting_class == "on_prem"
    assert builtin.enabled  # the test environment has the "local" extra
    order = {
        slug: [a.backend.name for a in Approval.objects.filter(category__slug=slug)]
        for slug in ("public", "internal", "confidential")
    }
    assert order == {
        "public": [BUILTIN_NAME, "Local Ollama", "OpenAI business API"],
        "internal": ["OpenAI business API", BUILTIN_NAME, "Local Ollama"],
        "confidential": [BUILTIN_NAME, "Local Ollama"],
    }


def test_without_the_local_extra_the_built_in_model_is_seeded_switched_off(db, monkeypatch):
    monkeypatch.setattr(demo, "builtin_installed", lambda: False)
    seed_demo_organisation()
    assert not Backend.objects.get(name=BUILTIN_NAME).enabled
    assert Approval.objects.filter(backend__name=BUILTIN_NAME).count() == 3


def test_staff_are_cleared_for_public_and_internal_and_only_some_for_confidential(db):
    seed_demo_organisation()
    alice = User.objects.get(email="alice@example.com")
    carol = User.objects.get(email="carol@example.com")
    assert [c.slug for c in Category.objects.cleared_for(alice)] == ["public", "internal"]
    assert [c.slug for c in Category.objects.cleared_for(carol)] == [
        "public",
        "internal",
        "confidential",
    ]
    assert not Clearance.objects.filter(category__slug="prohibited").exists()


def test_seed_demo_publishes_the_usage_policy_once(client, db):
    """The first look is a product: the policy page shows a published policy, and staff are
    asked to acknowledge it before their first chat, as on a real site."""
    from training.defaults import DEFAULT_POLICY_BODY, DEFAULT_POLICY_TITLE
    from training.models import PolicyDocument
    from training.services import needs_acknowledgement

    call_command("seed_demo", verbosity=0)
    call_command("seed_demo", verbosity=0)
    [document] = PolicyDocument.objects.all()
    assert (document.version, document.status) == (1, PolicyDocument.Status.PUBLISHED)
    assert (document.title, document.body) == (DEFAULT_POLICY_TITLE, DEFAULT_POLICY_BODY)
    assert AuditEvent.objects.filter(
        action=AuditEvent.Action.TRAINING_POLICY_PUBLISHED, actor_label="seed_demo"
    ).exists()
    alice = User.objects.get(email="alice@example.com")
    assert needs_acknowledgement(alice)
    client.force_login(alice)
    page = client.get("/training/policy/").content.decode()
    assert "Version 1, published" in page and "Why this policy exists" in page


def test_seed_demo_leaves_a_policy_document_alone(db, admin):
    from training import services
    from training.models import PolicyDocument

    services.save_draft(actor=admin, title="Ours", body="Our rules.", change_note="")
    call_command("seed_demo", verbosity=0)
    [document] = PolicyDocument.objects.all()
    assert (document.title, document.status) == ("Ours", PolicyDocument.Status.DRAFT)


def test_seed_demo_if_empty_leaves_a_real_site_alone(db, member, capsys):
    call_command("seed_demo", "--if-empty")
    assert "not seeded" in capsys.readouterr().out
    assert Category.objects.count() == 0


def test_health_information_is_blocked_before_it_is_sent(db):
    """No detector finds health data, which the demo's prohibited card lists: its rule blocks
    the words that come with it."""
    seed_demo_organisation()
    alice = User.objects.get(email="alice@example.com")
    text = "Our employee Maria Gonzalez was diagnosed with diabetes and is on sick leave."
    decision = simulate(user=alice, chosen=2, text=text).decision
    assert decision.outcome == "blocked"
    assert decision.reasons == (
        "Blocked: Health information is sensitive personal data and may not be sent to a model "
        "(rule “Health information”).",
    )
    assert (
        simulate(user=alice, chosen=2, text="I diagnosed the outage.").decision.outcome == "allowed"
    )
