"""The admin, as a package: importing it registers every model's admin (Django's autodiscover)."""
from calendly_sync.admin import connection  # noqa: F401  (registers the admins)
