"""Figures (matplotlib with the Agg backend), written atomically."""
