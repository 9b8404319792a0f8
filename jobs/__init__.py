"""changeguard jobs."""
