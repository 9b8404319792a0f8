"""changeguard webhooks."""
