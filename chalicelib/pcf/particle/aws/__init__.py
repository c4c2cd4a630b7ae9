"""AWS particle flavors."""
