"""Model apps the SQLAlchemy converter is tested on, each in the shape of a real application."""
