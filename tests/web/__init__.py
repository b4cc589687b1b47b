"""Dashboard pages of the course flow."""
