from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from governance import receivers  # noqa: F401  (login and logout auditing)

        post_migrate.connect(_create_role_groups, sender=self)
        post_migrate.connect(_ensure_policy_triggers, sender=self)


def _create_role_groups(**kwargs) -> None:
    from governance.roles import ensure_role_groups

    ensure_role_groups()


def _ensure_policy_triggers(using: str, **kwargs) -> None:
    from governance.policy_cache import ensure_triggers

    ensure_triggers(using)
