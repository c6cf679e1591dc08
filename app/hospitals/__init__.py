"""Hospitals: onboarding, approval and public discovery."""

HOSPITAL_STATUSES = ("pending", "approved", "rejected", "suspended")
