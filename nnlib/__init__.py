"""nnlib: the course's reference NumPy library (placeholder while the core is written)."""
