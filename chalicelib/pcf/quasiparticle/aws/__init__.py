"""AWS quasiparticle flavors."""
