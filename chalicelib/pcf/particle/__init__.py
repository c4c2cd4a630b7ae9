"""Particle flavors."""
