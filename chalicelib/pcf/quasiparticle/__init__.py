"""Quasiparticle flavors."""
