"""Runs first at every boot, before main.py; the application puts relays in their safe state here."""
