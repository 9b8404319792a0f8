"""changeguard worker."""
