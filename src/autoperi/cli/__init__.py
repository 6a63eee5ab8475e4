"""The ``autoperi`` command line. Each subcommand lives in its own module and imports heavy libraries lazily."""
