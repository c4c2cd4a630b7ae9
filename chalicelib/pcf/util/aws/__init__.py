"""AWS helpers: the client factory, tag specifications, name lookups."""
