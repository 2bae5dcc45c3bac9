"""The service: patients over time in a registry, a REST API (/api/v1), sign-in, audit, and the web page."""
