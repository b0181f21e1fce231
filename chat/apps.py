from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from chat import index_key  # registers its check

        post_migrate.connect(index_key.after_migrate, sender=self)
