"""The contact projection brought to Brevo: upserts, bulk imports, the automation-event outbox and Brevo attributes."""
