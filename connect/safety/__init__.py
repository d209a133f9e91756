"""Trust and safety: abuse reports, duplicate flags, contact reveals, purging personal data."""
