from django.apps import AppConfig


class CalendlySyncConfig(AppConfig):
    name = "calendly_sync"
    verbose_name = "Calendly → Brevo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from calendly_sync import checks  # noqa: F401  (registers system checks)
