"""Helpers shared by the core and the flavors."""
