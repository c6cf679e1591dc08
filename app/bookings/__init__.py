"""Bookings: requests, triage, transitions with atomic capacity, history, notifications."""
