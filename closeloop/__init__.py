"""closeloop: cross-department handling of hard customer complaints."""

__version__ = "0.1.0"
