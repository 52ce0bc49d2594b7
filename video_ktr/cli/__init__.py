"""Command-line interface: ``video-ktr <command> --help``."""
