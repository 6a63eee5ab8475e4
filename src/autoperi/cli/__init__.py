"""The ``autoperi`` command line: one module per subcommand, heavy libraries imported lazily."""
