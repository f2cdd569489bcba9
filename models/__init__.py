"""Persistence: SQLAlchemy 2 typed models, the aware-UTC column type, engine set-up and Alembic migrations."""
