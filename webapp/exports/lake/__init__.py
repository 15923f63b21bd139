"""Parquet data lake."""
