from django.apps import AppConfig
from django.conf import settings


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        from audit import signing

        signing.check_trusted_keys(settings.STEWARD_AUDIT_TRUSTED_KEYS)
