"""Locust user classes, one module per kind of user (the locustfile only imports them)."""
