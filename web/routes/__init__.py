"""Page routes, one module per kind of person."""
