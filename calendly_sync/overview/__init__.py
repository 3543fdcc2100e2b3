"""The operator's overview: each connection's health (``status``) and the alerts derived from it (``alerts``).

``status`` gathers a snapshot of facts per connection from the database in a fixed number of
queries and judges it with pure decision functions, one per health item; the dashboard shows the
items, and ``alerts`` raises an alert for each item that declares one. Nothing here calls Calendly
or Brevo: the doctor's probes stay in ``manage.py calendly_doctor``.
"""
