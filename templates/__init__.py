"""The templates, installed as the package ``bot.templates`` (setup.py maps this folder)."""
