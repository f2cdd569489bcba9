"""People and access: users, API tokens and dashboard sessions."""
