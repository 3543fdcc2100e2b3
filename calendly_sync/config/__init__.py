"""Configuration as code: the product page's YAML read, validated, applied and exported.

``schema`` declares the file's shape (with the strict field types of ``fields``), ``reader``
turns YAML text into config objects, ``apply`` writes them to the database, ``export`` writes the
database back as YAML. The functions a caller needs are importable from here too.
"""

from calendly_sync.config.apply import ApplyReport, apply_config
from calendly_sync.config.export import export_config
from calendly_sync.config.reader import ConfigError, ConfigErrors, ConnectionConfig, load_config

__all__ = [
    "ApplyReport",
    "ConfigError",
    "ConfigErrors",
    "ConnectionConfig",
    "apply_config",
    "export_config",
    "load_config",
]
