"""All SQL of the provider service."""
