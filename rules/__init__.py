"""changeguard rules."""
