from django.apps import AppConfig


class CalendlySyncConfig(AppConfig):
    name = "calendly_sync"
    verbose_name = "Calendly → Brevo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registrations: the system checks, the backfill's receiver of subscription gaps and the
        # function that runs sync jobs (runtime.jobs.executor: a Celery worker needs it too). Here,
        # not at the top: Django imports this module before the models can be (AppConfig.ready()
        # is where its documentation puts such imports).
        from calendly_sync import backfill, checks  # noqa: F401, PLC0415
        from calendly_sync.credentials import signing  # noqa: PLC0415

        signing.connect_signals()
