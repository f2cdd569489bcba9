"""The REST API (FastAPI): app factory, auth, errors, one router per area. See app.py."""
