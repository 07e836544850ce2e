"""The HTTP API and the admin UI's server side."""
