from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from governance import receivers  # noqa: F401  (login and logout auditing)

        post_migrate.connect(_create_role_groups, sender=self)


def _create_role_groups(**kwargs) -> None:
    from governance.roles import ensure_role_groups

    ensure_role_groups()
