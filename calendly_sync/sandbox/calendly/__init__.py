"""The simulated Calendly (a real HTTP server), split by resource."""
