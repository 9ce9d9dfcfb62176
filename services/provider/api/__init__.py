"""Routes of the provider service."""
