"""The simulated Brevo (a real HTTP server), split by resource."""
