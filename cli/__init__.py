"""The ``mixdiag`` command line, installed as ``mixdiag.cli``: thin wrappers over the Python API."""
