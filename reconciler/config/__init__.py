"""Desired state: located YAML loading, settings, schema and reference checks."""
