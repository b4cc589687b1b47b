"""Reusable test helpers (browser, sample course) shared by several test packages."""
