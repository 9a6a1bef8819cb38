"""Emulator of the field-service platform: `create_app` in app.py; docs/fieldservice.md describes it."""
