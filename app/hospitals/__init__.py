"""Hospitals: onboarding, approval and public discovery."""
