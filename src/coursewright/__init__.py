"""coursewright: documents in, human-approved courses out, delivered into any LMS."""

__version__ = "0.1.0"
