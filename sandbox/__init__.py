"""changeguard sandbox."""
