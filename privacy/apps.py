from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "privacy"
    verbose_name = "Retention and data-subject requests"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the privacy contact's check)
