"""Casework: complaints and department tasks through their lifecycle, notes, files, messages, compensation."""
