"""The operator's overview: the admin dashboard's health and charts (read-only views of the models)."""
