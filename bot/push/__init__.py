"""The daily push: who gets which articles, and sending them."""
