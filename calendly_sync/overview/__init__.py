"""The operator's overview: each connection's health (``status``), the alerts derived from it
(``alerts``), and the dashboard's 30-day charts (``charts``, with the pure ``series`` and ``figure``).

``status`` gathers a snapshot of facts per connection from the database in a fixed number of
queries and judges it with pure decision functions, one per health item; the dashboard shows the
items, and ``alerts`` raises an alert for each item that declares one. ``charts`` counts in the
database in a fixed number of queries too. Nothing here calls Calendly or Brevo: the doctor's
probes stay in ``manage.py calendly_doctor``.
"""
