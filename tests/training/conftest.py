"""The demo organisation's categories and people, and a helper to publish policy versions."""

from types import SimpleNamespace

import pytest

from governance.models import Category, User


@pytest.fixture
def demo(db):
    """The four default categories, two backends and the demo people (no LLM needed)."""
    from governance.demo import seed_demo_organisation

    seed_demo_organisation()
    return SimpleNamespace(
        alice=User.objects.get(email="alice@example.com"),
        bob=User.objects.get(email="bob@example.com"),
        carol=User.objects.get(email="carol@example.com"),
        paula=User.objects.get(email="paula@example.com"),
        aaron=User.objects.get(email="aaron@example.com"),
        public=Category.objects.get(slug="public"),
        internal=Category.objects.get(slug="internal"),
        confidential=Category.objects.get(slug="confidential"),
        prohibited=Category.objects.get(slug="prohibited"),
    )


@pytest.fixture
def publish(demo, django_capture_on_commit_callbacks):
    """Publish a new version as Paula: ``publish(body, note)`` returns the document.

    The commit hooks run, as in production (they clear the cached current version).
    """
    from training import services

    def publish_version(body: str = "## Rules\n\nBe careful.", note: str = "Changed"):
        draft = services.save_draft(actor=demo.paula, title="Policy", body=body, change_note=note)
        with django_capture_on_commit_callbacks(execute=True):
            return services.publish(actor=demo.paula, document=draft)

    return publish_version
