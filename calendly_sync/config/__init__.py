"""Configuration as code: the product page's YAML read, validated, applied and exported."""
