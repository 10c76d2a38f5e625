"""The only code that loads model weights."""
