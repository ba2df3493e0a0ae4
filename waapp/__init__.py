"""waapp: WhatsApp campaigns from a small business's own computer."""

__version__ = "0.1.0"
