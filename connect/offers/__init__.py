"""Offers of help: what volunteers, groups and small shops can give, where and until when."""
