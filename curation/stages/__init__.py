"""Pipeline stages, one per file; ``base.py`` defines the interface."""
