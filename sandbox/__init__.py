"""A sandbox Jira Cloud (REST v3 subset, workflow, signed webhooks) for tests and demos."""
