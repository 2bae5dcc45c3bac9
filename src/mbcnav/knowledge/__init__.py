"""Reviewed clinical knowledge kept as data files (drug catalogue, later the options rules), with their loaders."""
