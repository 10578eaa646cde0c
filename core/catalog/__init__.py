"""Catalog: categories, provider profiles, offers, availability, onboarding and search."""
