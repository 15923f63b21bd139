"""Reporting warehouse."""
